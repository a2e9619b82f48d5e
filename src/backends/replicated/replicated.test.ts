import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { storeContract } from '../contract.js';
import { freePort } from '../../../test/support/postgres.js';
import { startNats, type SingleNats } from '../../../test/support/nats.js';
import { parseNatsAddress } from '../nats/address.js';
import { createReplicatedStore, type ReplicatedKvStore } from './replicated-store.js';
import { replicationStatuses } from './status.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-replicated-'));
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
let nats: SingleNats;
let streams = 0;
let files = 0;

function openStore(url: string, stream: string, file = path.join(dir, `s${++files}.sqlite`)): ReplicatedKvStore {
  const address = parseNatsAddress(url);
  if (typeof address === 'string') throw new Error(address);
  return createReplicatedStore({
    file,
    labels: { app: 'test', store: stream },
    link: { address, stream, subjectPrefix: `verge.repl.${stream}`, replicas: 1, timeoutMs: 2000, tombstoneRetentionMs: 3_600_000 },
  });
}

/** Polls `cond` every 50 ms for at most `ms`. */
async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

before(async () => {
  nats = await startNats();
});
after(async () => {
  await nats?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

storeContract(
  'replicated',
  async () => openStore(nats.url, `t${process.pid}_${++streams}`),
  async () => {
    const nc = await connect({ servers: nats.url });
    try {
      await (await jetstreamManager(nc)).streams.delete(`t${process.pid}_${streams}`).catch(() => {});
    } finally {
      await nc.close();
    }
  },
);

describe('replicated store over JetStream', () => {
  test('two nodes\' replicas of one store converge: increments sum exactly, and the later set wins', async () => {
    const a = openStore(nats.url, 'converge');
    const b = openStore(nats.url, 'converge');
    try {
      await Promise.all([
        ...Array.from({ length: 40 }, () => a.increment('count', 1n)),
        ...Array.from({ length: 60 }, () => b.increment('count', 1n)),
        ...Array.from({ length: 25 }, () => b.increment('sum', -3n)),
      ]);
      await a.set('name', bytes('first'));
      await until(async () => text(await b.get('name')) === 'first', 'b sees a\'s set');
      await b.set('name', bytes('second'));
      for (const s of [a, b]) {
        await until(async () => text(await s.get('count')) === '100' && text(await s.get('sum')) === '-75' && text(await s.get('name')) === 'second', 'both converge');
      }
      await until(() => a.replication().queued_changes === 0 && b.replication().queued_changes === 0, 'nothing left queued');
      const statuses = replicationStatuses().filter((s) => s.stream === 'converge');
      assert.equal(statuses.length, 2);
      for (const s of statuses) assert.equal(s.connected, true);
      assert.deepEqual(await a.listKeys('', undefined, 10), ['count', 'name', 'sum']);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
    assert.equal(replicationStatuses().filter((s) => s.stream === 'converge').length, 0, 'a closed store leaves the metrics');
  });

  test('a store whose NATS is down serves reads and writes, shows its queued changes, and sends them once NATS is up', async () => {
    const port = await freePort();
    const offline = openStore(`nats://127.0.0.1:${port}`, 'late');
    let server: SingleNats | undefined;
    let other: ReplicatedKvStore | undefined;
    try {
      for (let i = 0; i < 10; i++) await offline.increment('readings', 1n);
      await offline.set('k', bytes('v'));
      assert.equal(text(await offline.get('readings')), '10');
      const status = offline.replication();
      assert.equal(status.connected, false);
      assert.equal(status.queued_changes, 2);
      await until(() => /cannot connect to NATS/.test(offline.replication().last_error ?? ''), 'the status says why');
      await until(() => offline.replication().lag_ms >= 100, 'the lag grows while nothing goes out');
      server = await startNats({ port });
      await until(() => offline.replication().queued_changes === 0, 'queued changes sent after NATS came up', 15_000);
      assert.equal(offline.replication().lag_ms, 0);
      other = openStore(server.url, 'late');
      await until(async () => text(await other!.get('readings')) === '10' && text(await other!.get('k')) === 'v', 'another replica reads them');
    } finally {
      await offline.close();
      await other?.close();
      await server?.destroy();
    }
  });

  test('a node back from offline reads only the changes it missed, not the whole stream again', async () => {
    const file = path.join(dir, 'returning.sqlite');
    const writer = openStore(nats.url, 'resume');
    let node = openStore(nats.url, 'resume', file);
    try {
      for (let i = 0; i < 50; i++) await writer.set(`before/${i}`, bytes('x'));
      await until(async () => (await node.listKeys('before/', undefined, 100)).length === 50, 'the node has the first 50 keys');
      await node.close();
      for (let i = 0; i < 5; i++) await writer.set(`during/${i}`, bytes('y'));
      await writer.increment('before/0', 0n).catch(() => {}); // not a number: refused, nothing queued
      node = openStore(nats.url, 'resume', file);
      await until(async () => (await node.listKeys('during/', undefined, 100)).length === 5, 'the node catches up');
      assert.equal(node.replication().received, 5, 'only the 5 changes made while it was away');
    } finally {
      await Promise.all([writer.close(), node.close()]);
    }
  });

  test('a stream deleted and made again is refilled from the replicas: each node sends its own writes and counts once more', async () => {
    const a = openStore(nats.url, 'lost');
    const b = openStore(nats.url, 'lost');
    let late: ReplicatedKvStore | undefined;
    try {
      await a.set('from-a', bytes('1'));
      for (let i = 0; i < 7; i++) await b.increment('n', 1n);
      await a.increment('n', 3n);
      await until(async () => text(await a.get('n')) === '10' && text(await b.get('from-a')) === '1', 'a and b converge');
      await until(() => a.replication().queued_changes === 0 && b.replication().queued_changes === 0, 'everything sent');
      const nc = await connect({ servers: nats.url });
      try {
        await (await jetstreamManager(nc)).streams.delete('lost');
      } finally {
        await nc.close();
      }
      // A node that joins now sees only what the replicas put back.
      await until(async () => {
        late ??= openStore(nats.url, 'lost');
        return text(await late.get('n')) === '10' && text(await late.get('from-a')) === '1';
      }, 'a new replica gets the state back', 20_000);
      assert.equal(text(await a.get('n')), '10', 'nothing counted twice on the old replicas');
    } finally {
      await Promise.all([a.close(), b.close(), late?.close()]);
    }
  });
});
