import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GONE_AFTER_HEARTBEATS, PRUNE_AFTER_MS, liveness, shouldPrune, viewOf } from './record.js';
import { clusterConfig, persistedNodeId } from './options.js';
import { formatClusterStatus } from '../cli/cluster.js';
import { isVergeError } from '../errors.js';

const record = (over: Record<string, unknown> = {}) =>
  new TextEncoder().encode(JSON.stringify({ id: 'a', region: 'eu', admin_url: null, url: 'http://x', verge_version: '0.1.0', started_at: '', last_seen: '', heartbeat_ms: 1000, serves: {}, ...over }));

test('a record is live up to three heartbeats old, then gone', () => {
  assert.equal(GONE_AFTER_HEARTBEATS, 3);
  assert.equal(liveness(3000, 1000), 'live');
  assert.equal(liveness(3001, 1000), 'gone');
});

test('only records past the prune bound are pruned', () => {
  assert.equal(shouldPrune(PRUNE_AFTER_MS), false);
  assert.equal(shouldPrune(PRUNE_AFTER_MS + 1), true);
});

test("a record's age is measured from the server's timestamp, by the writer's own heartbeat", () => {
  const now = Date.parse('2026-11-30T12:00:10Z');
  const view = viewOf(record({ heartbeat_ms: 2000 }), new Date('2026-11-30T12:00:05Z'), now)!;
  assert.equal(view.age_ms, 5000);
  assert.equal(view.state, 'live');
  assert.equal(view.replication_lag_ms, null);
  assert.equal(viewOf(record({ heartbeat_ms: 1000 }), new Date('2026-11-30T12:00:05Z'), now)!.state, 'gone');
});

test('bytes that are not a node record are skipped', () => {
  assert.equal(viewOf(new TextEncoder().encode('{"x":1}'), new Date(), Date.now()), undefined);
  assert.equal(viewOf(new TextEncoder().encode('not json'), new Date(), Date.now()), undefined);
});

test('a node id is made once and kept under the data dir', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-node-id-'));
  try {
    const id = await persistedNodeId(dir);
    assert.match(id, /^node-[0-9a-f]{12}$/);
    assert.equal(await persistedNodeId(dir), id);
    assert.equal(readFileSync(path.join(dir, 'node-id'), 'utf8').trim(), id);
    writeFileSync(path.join(dir, 'node-id'), 'no spaces allowed');
    await assert.rejects(persistedNodeId(dir), (e) => isVergeError(e) && e.code === 'CLUSTER_CONFIG_INVALID');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credentials come from VERGE_CLUSTER_CREDENTIALS when the URL has none, and are never shown', async () => {
  const c = await clusterConfig({ urls: 'nats://127.0.0.1:4222,tls://h:5', nodeId: 'n1' }, '/nonexistent', { VERGE_CLUSTER_CREDENTIALS: 'alice:s3cret' });
  assert.equal(c.address.user, 'alice');
  assert.equal(c.address.pass, 's3cret');
  assert.equal(c.address.tls, true);
  assert.ok(!c.address.shown.includes('s3cret'));
  const url = await clusterConfig({ urls: 'nats://tok@127.0.0.1:4222', nodeId: 'n1' }, '/nonexistent', { VERGE_CLUSTER_CREDENTIALS: 'alice:s3cret' });
  assert.equal(url.address.token, 'tok');
});

test('a bad --cluster, --node-id or --region is CLUSTER_CONFIG_INVALID naming the flag', async () => {
  for (const [flags, flag] of [
    [{ urls: 'http://x:1', nodeId: 'n' }, '--cluster'],
    [{ urls: 'nats://x:1', nodeId: 'a b' }, '--node-id'],
    [{ urls: 'nats://x:1', nodeId: 'n', region: 'eu west' }, '--region'],
    [{ urls: 'nats://x:1', nodeId: 'n', credsFile: '/nonexistent.creds' }, '--cluster-creds-file'],
  ] as const) {
    await assert.rejects(clusterConfig(flags, '/nonexistent', {}), (e) => isVergeError(e) && e.code === 'CLUSTER_CONFIG_INVALID' && e.message.startsWith(flag));
  }
});

test('cluster status says when clustering is off, and when this node is not connected', () => {
  assert.match(formatClusterStatus({ enabled: false, message: 'off' })[0]!, /clustering is off/);
  const lines = formatClusterStatus({
    enabled: true, node_id: 'a', region: null, servers: 'nats://h:1', bucket: 'b', connected: false, last_error: 'cannot connect',
    heartbeat_ms: 2000, gone_after_ms: 6000, prune_after_ms: PRUNE_AFTER_MS, nodes: [], replication: 'n/a', deployments: [],
  });
  assert.deepEqual(lines, ['this node: a, cluster nats://h:1: NOT CONNECTED (cannot connect); serving locally and retrying']);
});
