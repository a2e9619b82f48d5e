import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { storeContract } from '../contract.js';
import { StoreError, type KvStore, type StoreErrorReason } from '../store.js';
import { createBreaker } from '../../capabilities/kv/breaker.js';
import { freePort } from '../../../test/support/postgres.js';
import { startNats, startNatsCluster, type NatsCluster, type SingleNats } from '../../../test/support/nats.js';
import { parseNatsAddress } from './address.js';
import { NATS_STORE_DEFAULTS, createNatsStore } from './nats-store.js';

const text = new TextEncoder();
const bytes = (s: string) => text.encode(s);
const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());

let nats: SingleNats;
let buckets = 0;

function openStore(url: string, opts: { bucket?: string; replicas?: number; timeoutMs?: number } = {}): KvStore {
  const address = parseNatsAddress(url);
  if (typeof address === 'string') throw new Error(address);
  return createNatsStore({ address, bucket: opts.bucket ?? `t${process.pid}_${++buckets}`, replicas: opts.replicas ?? 1, timeoutMs: opts.timeoutMs ?? 5000 });
}

async function assertReason(promise: Promise<unknown>, reasons: StoreErrorReason[], pattern?: RegExp): Promise<StoreError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`);
  assert.ok(reasons.includes(caught.reason), `expected ${reasons.join(' or ')}, got ${caught.reason}: ${caught.message}`);
  if (pattern) assert.match(caught.message, pattern);
  return caught;
}

/** Retries `fn` until it resolves, for at most `ms`. */
async function eventually<T>(fn: () => Promise<T>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

before(async () => {
  nats = await startNats();
});

after(async () => {
  await nats?.destroy();
});

storeContract(
  'nats',
  async () => openStore(nats.url),
  async () => {
    // Each test's bucket is dropped with its stream, so a run leaves nothing behind.
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(`KV_t${process.pid}_${buckets}`).catch(() => {});
    } finally {
      await nc.close();
    }
  },
);

describe('nats store: buckets and keys', () => {
  test('two stores on one bucket share keys, and another bucket does not', async () => {
    const a = openStore(nats.url, { bucket: 'shared_a' });
    const b = openStore(nats.url, { bucket: 'shared_a' });
    const c = openStore(nats.url, { bucket: 'shared_c' });
    try {
      await a.set('k', bytes('v'));
      assert.equal(str(await b.get('k')), 'v');
      assert.equal(await c.exists('k'), false);
      assert.equal(a.kind, 'nats');
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  });

  test('a bucket that exists with another replica count is UNAVAILABLE, naming both counts', async () => {
    const one = openStore(nats.url, { bucket: 'replicas_1' });
    await one.set('k', bytes('v'));
    await one.close();
    // A single server cannot host 3 replicas, and the existing bucket has 1: either way refused, not silently used.
    const three = openStore(nats.url, { bucket: 'replicas_1', replicas: 3 });
    try {
      await assertReason(three.get('k'), ['UNAVAILABLE']);
    } finally {
      await three.close();
    }
  });
});

describe('nats store: failures', () => {
  test('a server that is down at start is UNAVAILABLE at once, the breaker opens, and the store serves once the server is up', async () => {
    const port = await freePort();
    const store = openStore(`nats://127.0.0.1:${port}`, { timeoutMs: 2000 });
    const breaker = createBreaker({ name: 'cache', failureThreshold: 2, cooldownMs: 200 });
    let server: SingleNats | undefined;
    try {
      const started = Date.now();
      await assertReason(store.get('k'), ['UNAVAILABLE'], new RegExp(`cannot connect to NATS at nats://127\\.0\\.0\\.1:${port}`));
      assert.ok(Date.now() - started < 1500, 'a refused connection fails fast, not at the timeout');
      await assertReason(breaker.callAsync(() => store.get('k')), ['UNAVAILABLE']);
      await assertReason(breaker.callAsync(() => store.get('k')), ['UNAVAILABLE']);
      assert.equal(breaker.state, 'open');
      await assertReason(breaker.callAsync(() => store.get('k')), ['UNAVAILABLE'], /circuit|open/i);
      server = await startNats({ port });
      await new Promise((r) => setTimeout(r, 250));
      await breaker.callAsync(() => store.set('k', bytes('up')));
      assert.equal(breaker.state, 'closed');
      assert.equal(str(await store.get('k')), 'up');
    } finally {
      await store.close();
      await server?.destroy();
    }
  });

  test('a server killed mid-call fails the calls in flight within the timeout, and the store recovers with its data after a restart', async () => {
    const server = await startNats();
    const store = openStore(server.url, { timeoutMs: 2000 });
    try {
      await store.set('kept', bytes('before'));
      const inFlight = Array.from({ length: 20 }, (_, i) => store.increment(`n${i % 3}`, 1n).then(() => 'ok', (err: unknown) => err));
      await server.kill();
      const started = Date.now();
      const outcomes = await Promise.all(inFlight);
      assert.ok(Date.now() - started < 3000, 'calls in flight end within the store timeout');
      for (const o of outcomes) if (o !== 'ok') assert.ok(o instanceof StoreError && ['UNAVAILABLE', 'TIMEOUT'].includes(o.reason), String(o));
      await assertReason(store.get('kept'), ['UNAVAILABLE', 'TIMEOUT']);
      await server.start();
      assert.equal(await eventually(async () => str(await store.get('kept')), 15_000, 'reads after the restart'), 'before');
      await store.set('after', bytes('restart'));
      assert.equal(str(await store.get('after')), 'restart');
    } finally {
      await store.close();
      await server.destroy();
    }
  });

  test('every acknowledged write survives kill -9 of the server and its restart (file storage)', async () => {
    const server = await startNats();
    const store = openStore(server.url);
    try {
      const acked: string[] = [];
      await Promise.all(
        Array.from({ length: 8 }, async (_, w) => {
          for (let i = 0; i < 40; i++) {
            await store.set(`w${w}/${i}`, bytes(`value ${w} ${i}`));
            acked.push(`w${w}/${i}`);
          }
        }),
      );
      assert.equal(await store.increment('count', 41n), 41n);
      await server.kill();
      await server.start();
      await eventually(() => store.get('w0/0'), 15_000, 'reads after the restart');
      for (const key of acked) {
        const [, w, i] = /^w(\d)\/(\d+)$/.exec(key)!;
        assert.equal(str(await store.get(key)), `value ${w} ${i}`, key);
      }
      assert.equal(await store.increment('count', 1n), 42n);
      assert.equal((await store.listKeys('w3/', undefined, 1000)).length, 40);
    } finally {
      await store.close();
      await server.destroy();
    }
  });

  test('increments lose to other writers at most casAttempts times, then CONFLICT says why', async () => {
    const store = openStore(nats.url);
    const rival = openStore(nats.url, { bucket: `t${process.pid}_${buckets}` });
    try {
      // The rival store has its own turn-taking, so only the server's revisions order the two.
      await store.set('hot', bytes('0'));
      let stop = false;
      const writer = (async () => {
        let n = 0;
        while (!stop) await rival.set('hot', bytes(String(++n * 1000)));
      })();
      const results = await Promise.allSettled(Array.from({ length: 30 }, () => store.increment('hot', 1n)));
      stop = true;
      await writer;
      for (const r of results) {
        if (r.status === 'rejected') {
          assert.ok(r.reason instanceof StoreError && r.reason.reason === 'CONFLICT', String(r.reason));
          assert.match(r.reason.message, new RegExp(`gave up after ${NATS_STORE_DEFAULTS.casAttempts} attempts`));
        }
      }
    } finally {
      await store.close();
      await rival.close();
    }
  });
});

describe('nats store: a 3-server cluster', () => {
  let cluster: NatsCluster;
  before(async () => {
    cluster = await startNatsCluster(3);
  });
  after(async () => {
    await cluster?.destroy();
  });

  test('with replicas = 3, writes are still acknowledged with the stream leader killed, and none acknowledged is lost', async () => {
    const store = openStore(cluster.urls, { bucket: 'r3', replicas: 3, timeoutMs: 3000 });
    try {
      await store.set('first', bytes('1'));
      const nc = await connect({ servers: cluster.urls.split(',') });
      const jsm = await jetstreamManager(nc);
      const leader = (await jsm.streams.info('KV_r3')).cluster?.leader;
      await nc.close();
      const victim = cluster.servers.find((s) => s.name === leader);
      assert.ok(victim, `the stream leader ${String(leader)} is one of ours`);

      const acked = new Map<string, string>();
      let killedAt = 0;
      let afterKill = 0;
      let i = 0;
      const deadline = Date.now() + 30_000;
      while (afterKill < 50 && Date.now() < deadline) {
        if (i === 50) {
          await victim.kill();
          killedAt = Date.now();
        }
        const key = `k${i}`;
        try {
          await store.set(key, bytes(`v${i}`));
          acked.set(key, `v${i}`);
          if (killedAt > 0) afterKill++;
        } catch (err) {
          assert.ok(err instanceof StoreError && ['UNAVAILABLE', 'TIMEOUT'].includes(err.reason), String(err));
          await new Promise((r) => setTimeout(r, 50));
        }
        i++;
      }
      assert.equal(afterKill, 50, `50 writes acknowledged after the leader ${victim.name} was killed`);
      for (const [key, value] of acked) assert.equal(str(await store.get(key)), value, key);
      assert.equal(str(await store.get('first')), '1');
    } finally {
      await store.close();
    }
  });

  test('with one server of three stopped, list-keys answers every time, in order and without deleted keys', async () => {
    // The test above killed one: all three are up again before the bucket is made (replicas 3).
    for (const s of cluster.servers) if (s.pid() === undefined) await s.start();
    const store = openStore(cluster.urls, { bucket: 'r3list', replicas: 3, timeoutMs: 3000 });
    try {
      for (const key of ['b', 'a', 'gone', 'c', 'é', 'z']) await store.set(key, bytes(key));
      await store.delete('gone');
      await cluster.servers[0]!.stop();
      // The stream's leader moves to a live server; a call in that moment may fail.
      const deadline = Date.now() + 15_000;
      while (!(await store.listKeys('', undefined, 100).then(() => true, () => false))) {
        assert.ok(Date.now() < deadline, 'list-keys answers within 15 s of the stop');
        await new Promise((r) => setTimeout(r, 50));
      }
      // nats.js's consumer-based listing got no answer about one time in three here (stream-reads.ts).
      for (let i = 0; i < 20; i++) {
        assert.deepEqual(await store.listKeys('', undefined, 100), ['a', 'b', 'c', 'z', 'é'], `listing ${i}`);
        assert.deepEqual(await store.listKeys('', 'b', 2), ['c', 'z'], `page ${i}`);
      }
    } finally {
      await store.close();
    }
  });
});
