import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClusterDeployment, replicationLag, type ClusterDeployment, type DeploymentView } from './deploy-record.js';
import { formatClusterStatus } from '../cli/cluster.js';
import { PRUNE_AFTER_MS, viewOf } from './record.js';

const ID = 'a'.repeat(64);
const OTHER = 'b'.repeat(64);
const record = (over: Record<string, unknown> = {}) => ({
  id: 'd-0123456789abcdef', app: 'shop', versions: [{ id: ID, weight: 90 }, { id: OTHER, weight: 10 }], policy: {}, by: 'local', reason: 'deploy', origin: 'node-a', at: '2026-11-30T12:00:00Z', ...over,
});
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

test("a cluster deployment record is read back as written, for the key it is stored under", () => {
  const d = parseClusterDeployment(bytes(record()), 'shop');
  assert.deepEqual(d, record());
});

test('a cluster deployment record this node cannot trust to mean one thing is refused, saying what is wrong', () => {
  const cases: Array<[unknown, RegExp]> = [
    ['{not json', /is not JSON/],
    [[1], /expected a JSON object/],
    [record({ app: 'menu' }), /app: expected "shop" \(the key it is stored under\), got "menu"/],
    [record({ versions: [{ id: 'abc123', weight: 100 }] }), /versions\[0\]\.id: expected a full version id/],
    [record({ versions: [{ id: ID, weight: 0 }] }), /no version has a weight above 0/],
    [record({ versions: [{ id: ID, weight: 50 }, { id: ID, weight: 50 }] }), /versions\[1\]: version a{12} is listed twice/],
    [record({ versions: [{ id: ID, weight: 1.5 }] }), /versions\[0\]\.weight: expected an integer/],
    [record({ reason: 'auto-rollback' }), /reason: expected "deploy" or "rollback"/],
    [record({ id: 'has space' }), /id: expected a deployment id/],
    [record({ policy: null }), /policy: expected an object/],
  ];
  for (const [value, message] of cases) {
    const out = parseClusterDeployment(bytes(value), 'shop');
    assert.equal(typeof out, 'string', JSON.stringify(value));
    assert.match(out as string, message);
  }
});

const view = (state: DeploymentView['state'], lag: number | null): DeploymentView => ({ app: state, cluster: null, state, applied: null, code: null, message: null, lag_ms: lag });

test("a node's replication lag is its longest wait for a deployment, else the slowest it served; refusals are not lag", () => {
  assert.equal(replicationLag([]), null);
  assert.equal(replicationLag([view('serving', 120), view('serving', 40)]), 120);
  assert.equal(replicationLag([view('serving', 120), view('pending', 3000), view('pending', 20)]), 3000);
  assert.equal(replicationLag([view('refused', null), view('serving', 15)]), 15);
  assert.equal(replicationLag([view('refused', null)]), null);
});

test("cluster status shows each node's lag and refusals, and the cluster's deployments as this node sees them", () => {
  const node = (id: string, over: Record<string, unknown>) =>
    viewOf(bytes({ id, region: null, admin_url: null, url: 'http://x', verge_version: '0.1.0', started_at: '', last_seen: '', heartbeat_ms: 2000, serves: {}, ...over }), new Date(1000), 1500)!;
  const lines = formatClusterStatus({
    enabled: true, node_id: 'node-a', region: null, servers: 'nats://h:1', bucket: 'b', connected: true, last_error: null,
    heartbeat_ms: 2000, gone_after_ms: 6000, prune_after_ms: PRUNE_AFTER_MS, replication: 'deploys go through …',
    nodes: [
      node('node-a', { serves: { shop: [{ id: ID, weight: 100 }] }, replication_lag_ms: 42, deploys: { shop: { deployment: 'd-1', state: 'serving' } } }),
      node('node-b', { deploys: { shop: { deployment: 'd-1', state: 'refused', code: 'SIGNATURE_UNTRUSTED', message: 'signed by key k1, which this node does not trust' } } }),
    ],
    deployments: [{ app: 'shop', cluster: { ...(record({ id: 'd-1', versions: [{ id: ID, weight: 100 }] }) as ClusterDeployment), revision: 7 }, state: 'serving', applied: 'd-1', code: null, message: null, lag_ms: 42 }],
  });
  assert.match(lines[2]!, /node-a \(this node\) .* serves shop a{12}@100  replication lag 42 ms/);
  assert.match(lines[3]!, /node-b .* serves nothing  replication lag n\/a/);
  assert.equal(lines[4], '    REFUSES shop deployment d-1: SIGNATURE_UNTRUSTED signed by key k1, which this node does not trust');
  assert.equal(lines[6], `  shop d-1 ${'a'.repeat(12)}@100 (deploy through node-a, 2026-11-30T12:00:00Z); this node: serving`);
});
