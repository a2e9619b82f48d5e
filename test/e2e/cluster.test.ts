/**
 * Joining a cluster (docs/cluster.md), with the real CLI and a real nats-server: nodes started with
 * `verge up --cluster` see each other in `verge cluster status` from either; a node killed with
 * SIGKILL turns gone after three heartbeats; a clean stop removes its record; a node started
 * before NATS joins once NATS is up, and again after NATS restarts; the credentials never reach
 * the output; on a three-server NATS cluster the node bucket has three replicas and the heartbeats
 * outlive one server; a tls:// URL connects over TLS; without --cluster, GET /v1/cluster says clustering is off. Every wait is a bounded poll.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeApp } from '../support/app.js';
import { selfSigned } from '../support/tls.js';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNats, startNatsCluster, type NatsCluster, type SingleNats } from '../support/nats.js';
import { freePort } from '../support/postgres.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import type { ClusterAnswer } from '../../src/cli/cluster.js';
import type { ClusterStatus } from '../../src/cluster/membership.js';

/** Seconds between heartbeats in these tests: gone after 3 × 0.5 s. */
const HEARTBEAT = '0.5';
const WAIT_MS = 15_000;

const dirs: string[] = [];
function dataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-cluster-'));
  dirs.push(dir);
  return dir;
}

/** Every node the tests start: stopped at the end whatever a test did, so a failing test leaves no verge running. */
const started: VergeProcess[] = [];

async function up(id: string, cluster: string, more: string[] = [], env: Record<string, string> = {}, app = ''): Promise<VergeProcess> {
  const node = await startVerge(app, ['--cluster', cluster, '--node-id', id, '--cluster-heartbeat', HEARTBEAT, '--data-dir', dataDir(), ...more], { admin: true, env });
  started.push(node);
  return node;
}

async function status(node: VergeProcess): Promise<{ answer: ClusterAnswer; text: string }> {
  const json = await runVerge(['cluster', 'status', '--from', node.adminUrl!, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const text = await runVerge(['cluster', 'status', '--from', node.adminUrl!]);
  return { answer: JSON.parse(json.stdout) as ClusterAnswer, text: text.stdout };
}

/** Polls the node's status (through the CLI) until `ok` holds, for at most WAIT_MS. */
async function statusUntil(node: VergeProcess, ok: (s: ClusterStatus) => boolean, what: string): Promise<{ answer: ClusterStatus; text: string }> {
  const deadline = Date.now() + WAIT_MS;
  let last = '';
  for (;;) {
    const s = await status(node);
    assert.equal(s.answer.enabled, true);
    if (ok(s.answer as ClusterStatus)) return { answer: s.answer as ClusterStatus, text: s.text };
    last = s.text;
    assert.ok(Date.now() < deadline, `not seen in ${WAIT_MS} ms: ${what}; last status:\n${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const node = (s: ClusterStatus, id: string) => s.nodes.find((n) => n.id === id);

after(async () => {
  // stop() is a no-op for a node already stopped or killed.
  await Promise.all(started.map((n) => n.stop()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('nodes on one NATS server', () => {
  let nats: SingleNats;
  let a: VergeProcess;
  let b: VergeProcess;

  before(async () => {
    nats = await startNats();
    const module = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nhi')} (func (export "_start") (call $respond)))`);
    const app = writeApp('shop', { web: { route: '/...', wasm: module } });
    [a, b] = await Promise.all([up('node-a', nats.url, ['--region', 'eu-west'], {}, app), up('node-b', nats.url, ['--region', 'us-east'])]);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await nats?.destroy();
  });

  test('two nodes see each other in verge cluster status from either', async () => {
    assert.match(a.stderr(), /Cluster: joining nats:\/\/127\.0\.0\.1:\d+ as node-a \(region eu-west\)/);
    for (const from of [a, b]) {
      const { answer, text } = await statusUntil(from, (s) => s.connected && node(s, 'node-a')?.state === 'live' && node(s, 'node-b')?.state === 'live', 'node-a and node-b live');
      const na = node(answer, 'node-a')!;
      assert.equal(na.region, 'eu-west');
      assert.equal(na.admin_url, a.adminUrl);
      assert.equal(na.url, a.url);
      assert.deepEqual(Object.keys(na.serves), ['shop']);
      assert.equal(na.serves.shop![0]!.weight, 100);
      assert.equal(node(answer, 'node-b')!.region, 'us-east');
      assert.deepEqual(node(answer, 'node-b')!.serves, {});
      assert.match(text, /node-a.*region eu-west\s+live\s+last seen .* serves shop [0-9a-f]{12}@100\s+replication lag n\/a/);
      assert.match(text, /cluster deployments: none/);
    }
  });

  test('a node killed with SIGKILL turns gone after three heartbeats', async () => {
    const c = await up('node-killed', nats.url);
    await statusUntil(a, (s) => node(s, 'node-killed')?.state === 'live', 'node-killed live');
    c.proc.kill('SIGKILL');
    const { answer, text } = await statusUntil(a, (s) => node(s, 'node-killed')?.state === 'gone', 'node-killed gone');
    assert.ok(node(answer, 'node-killed')!.age_ms > answer.gone_after_ms);
    assert.equal(answer.gone_after_ms, 1500);
    assert.match(text, /node-killed .* gone /);
  });

  test('a node stopped cleanly removes its record', async () => {
    const c = await up('node-leaving', nats.url);
    await statusUntil(b, (s) => node(s, 'node-leaving')?.state === 'live', 'node-leaving live');
    assert.equal(await c.stop(), 0);
    // At once, not after the bound: the record is deleted, not left to age.
    const { answer } = await status(b);
    assert.equal(answer.enabled && node(answer, 'node-leaving'), undefined);
  });
});

describe('a node started before NATS', () => {
  const TOKEN = 'cluster-token-8d3b1f6a';
  let nats: SingleNats | undefined;
  let d: VergeProcess;

  before(async () => {
    const port = await freePort();
    // The credentials come from the environment, not the command line.
    d = await up('node-early', `nats://127.0.0.1:${port}`, [], { VERGE_CLUSTER_CREDENTIALS: TOKEN });
    const { answer, text } = await status(d);
    assert.ok(answer.enabled && !answer.connected, text);
    assert.match(text, /NOT CONNECTED \(cannot connect to NATS at nats:\/\/127\.0\.0\.1:\d+/);
    nats = await startNats({ port, token: TOKEN });
  });

  after(async () => {
    await d?.stop();
    await nats?.destroy();
  });

  test('joins once NATS is up', async () => {
    await statusUntil(d, (s) => s.connected && node(s, 'node-early')?.state === 'live', 'node-early joined');
  });

  test('its heartbeats resume after NATS restarts', async () => {
    await nats!.stop();
    await statusUntil(d, (s) => !s.connected, 'node-early not connected while NATS is down');
    await nats!.start();
    await statusUntil(d, (s) => s.connected && node(s, 'node-early')!.age_ms < s.gone_after_ms, 'node-early heartbeats again');
  });

  test('the credentials never reach its output', () => {
    assert.ok(!d.stdout().includes(TOKEN) && !d.stderr().includes(TOKEN));
  });
});

test('a tls:// cluster URL connects over TLS', async () => {
  const cert = selfSigned(dataDir());
  const nats = await startNats({ tls: cert });
  // Trusted as the test's CA, so the node checks the server's certificate as it would a real one.
  const n = await up('node-tls', `tls://127.0.0.1:${nats.port}`, [], { NODE_EXTRA_CA_CERTS: cert.cert });
  try {
    await statusUntil(n, (s) => s.connected && node(s, 'node-tls')?.state === 'live', 'node-tls joined over TLS');
    // A node that does not trust the certificate stays out, and says why.
    const untrusting = await up('node-untrusting', `tls://127.0.0.1:${nats.port}`);
    try {
      await statusUntil(untrusting, (s) => !s.connected && /certificate/i.test(s.last_error ?? ''), 'node-untrusting refused the certificate');
    } finally {
      await untrusting.stop();
    }
  } finally {
    await n.stop();
    await nats.destroy();
  }
});

test('without --cluster, GET /v1/cluster says clustering is off', async () => {
  const n = await startVerge('', ['--data-dir', dataDir()], { admin: true });
  try {
    const res = await fetch(`${n.adminUrl}/v1/cluster`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { enabled: boolean }).enabled, false);
    const out = await runVerge(['cluster', 'status', '--from', n.adminUrl!]);
    assert.match(out.stdout, /clustering is off/);
  } finally {
    await n.stop();
  }
});

describe('a node on a three-server NATS cluster', () => {
  let nats: NatsCluster;
  let e: VergeProcess;

  before(async () => {
    nats = await startNatsCluster(3);
    e = await up('node-replicated', nats.urls, ['--cluster-replicas', '3']);
  });

  after(async () => {
    await e?.stop();
    await nats?.destroy();
  });

  test('creates the node bucket with three replicas and keeps beating when one server stops', async () => {
    await statusUntil(e, (s) => s.connected && node(s, 'node-replicated')?.state === 'live', 'node-replicated live');
    const nc = await connect({ servers: nats.servers[0]!.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info('KV_verge_cluster_nodes');
      assert.equal(info.config.num_replicas, 3);
    } finally {
      await nc.close();
    }
    // Whichever server the node is connected to, the other two keep a quorum.
    await nats.servers[0]!.stop();
    const stoppedAt = Date.now();
    await statusUntil(e, (s) => s.connected && Date.now() - stoppedAt > 2000 && (node(s, 'node-replicated')?.age_ms ?? Infinity) < s.gone_after_ms, 'node-replicated beating after a server stopped');
  });
});
