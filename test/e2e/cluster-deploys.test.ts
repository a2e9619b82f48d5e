/**
 * Deploys reach every node (docs/cluster.md, "Deploys"), with the real CLI, three Verge nodes and a
 * three-server NATS cluster with JetStream (replicas 3), all on free loopback ports and stopped by
 * PID: a deploy through node A is served by B and C and by a node started later; a node that was
 * offline during two deploys converges to the latest and never serves the one in between; a node
 * whose trust list lacks the signer refuses the version and says so, while the others serve it; a
 * bundle whose bytes in the object store are not its id is refused. Every wait is a bounded poll.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { writeApp } from '../support/app.js';
import { startNatsCluster, type NatsCluster } from '../support/nats.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';
import { freePort } from '../support/postgres.js';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { packBundle } from '../../src/bundle/index.js';
import { DEPLOY_BUCKETS } from '../../src/cluster/deploy-record.js';
import type { ClusterAnswer } from '../../src/cli/cluster.js';
import type { ClusterStatus } from '../../src/cluster/membership.js';

const HEARTBEAT = '0.5';
const WAIT_MS = 15_000;

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

let nats: NatsCluster;

function up(id: string, more: string[] = [], dataDir = tempDir('verge-cdeploy-')): Promise<VergeProcess> {
  return startVerge('', ['--cluster', nats.urls, '--cluster-replicas', '3', '--node-id', id, '--cluster-heartbeat', HEARTBEAT, '--log-level', 'debug', '--data-dir', dataDir, ...more], { admin: true });
}

/** An app whose one route `/NAME/...` answers `text`. */
async function app(name: string, text: string): Promise<string> {
  const module = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith(`content-type: text/plain\n\n${text}`)} (func (export "_start") (call $respond)))`);
  return writeApp(name, { web: { route: `/${name}/...`, wasm: module } });
}

async function bundleBytes(dir: string): Promise<{ id: string; bytes: Buffer }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const { id } = await packBundle(dir, out);
  return { id, bytes: Buffer.concat(chunks) };
}

async function adminCall(node: VergeProcess, method: string, p: string, body?: Buffer | object): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${node.adminUrl}${p}`, { method, body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function upload(node: VergeProcess, name: string, dir: string): Promise<string> {
  const { bytes } = await bundleBytes(dir);
  const r = await adminCall(node, 'POST', `/v1/apps/${name}/versions`, bytes);
  assert.ok(r.status === 201 || r.status === 200, JSON.stringify(r.json));
  return (r.json.version as { id: string }).id;
}

async function deploy(node: VergeProcess, name: string, id: string): Promise<void> {
  const r = await adminCall(node, 'PUT', `/v1/apps/${name}/deployment`, { versions: [{ id, weight: 100 }] });
  assert.equal(r.status, 200, JSON.stringify(r.json));
}

/** What the node answers on the app's route now: the version that served it (12 characters) and the body; 404 as ''. */
async function served(node: VergeProcess, name: string): Promise<{ version: string; body: string }> {
  const res = await fetch(`${node.url}/${name}/x`, { signal: AbortSignal.timeout(5000) });
  const body = await res.text();
  return res.status === 200 ? { version: res.headers.get('x-verge-version') ?? '', body } : { version: '', body: '' };
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    assert.ok(Date.now() < deadline, `not seen in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits for the node to serve the version; a timeout says what the node reports of the app and what it logged about the cluster. */
async function servesVersion(node: VergeProcess, name: string, id: string): Promise<void> {
  try {
    await until(`${name} ${id.slice(0, 12)} served by ${node.url}`, async () => ((await served(node, name)).version === id.slice(0, 12) ? true : undefined));
  } catch (err) {
    const status = await clusterStatus(node).then((s) => JSON.stringify({ connected: s.connected, last_error: s.last_error, deployment: s.deployments.find((d) => d.app === name) }), (e: unknown) => `status not read: ${String(e)}`);
    const logged = node.logs().filter((r) => typeof r.msg === 'string' && r.msg.startsWith('cluster')).slice(-20).map((r) => JSON.stringify(r)).join('\n');
    throw new Error(`${(err as Error).message}\nthe node reports: ${status}\nits last cluster log lines:\n${logged}`, { cause: err });
  }
}

async function clusterStatus(node: VergeProcess): Promise<ClusterStatus> {
  const res = await fetch(`${node.adminUrl}/v1/cluster`);
  const answer = (await res.json()) as ClusterAnswer;
  assert.ok(answer.enabled);
  return answer as ClusterStatus;
}

after(async () => {
  await nats?.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('deploys across a three-server NATS cluster', () => {
  let a: VergeProcess;
  let b: VergeProcess;
  let c: VergeProcess;
  const started: VergeProcess[] = [];

  before(async () => {
    nats = await startNatsCluster(3);
    [a, b, c] = await Promise.all([up('node-a'), up('node-b'), up('node-c')]);
    started.push(a, b, c);
    await until('three nodes connected', async () => ((await Promise.all([a, b, c].map(clusterStatus))).every((s) => s.connected) ? true : undefined));
  });

  after(async () => {
    await Promise.all(started.map((n) => n.stop()));
  });

  test('a deploy through node A is served by B and C, and by a node started later', async () => {
    const id = await upload(a, 'shop', await app('shop', 'shop v1'));
    await deploy(a, 'shop', id);
    for (const n of [a, b, c]) await servesVersion(n, 'shop', id);
    assert.equal((await served(c, 'shop')).body, 'shop v1');
    const d = await up('node-late');
    started.push(d);
    await servesVersion(d, 'shop', id);
    // Every node says so in its heartbeat, and the cluster's deployment names the node that took it.
    const s = await until('every node serving shop in cluster status', async () => {
      const st = await clusterStatus(a);
      const ids = ['node-a', 'node-b', 'node-c', 'node-late'];
      return ids.every((i) => st.nodes.find((n) => n.id === i)?.deploys?.shop?.state === 'serving') ? st : undefined;
    });
    const mine = s.deployments.find((x) => x.app === 'shop')!;
    assert.equal(mine.state, 'serving');
    assert.equal(mine.cluster?.origin, 'node-a');
    assert.deepEqual(mine.cluster?.versions, [{ id, weight: 100 }]);
    assert.ok(s.nodes.every((n) => typeof n.replication_lag_ms === 'number'), JSON.stringify(s.nodes.map((n) => n.replication_lag_ms)));
    const text = await runVerge(['cluster', 'status', '--from', a.adminUrl!]);
    assert.match(text.stdout, /node-late .*serves shop [0-9a-f]{12}@100\s+replication lag \d+ ms/);
    assert.match(text.stdout, new RegExp(`shop d-[0-9a-f]+ ${id.slice(0, 12)}@100 \\(deploy through node-a, .*\\); this node: serving`));
  });

  test('a node offline during two deploys converges to the latest and never serves the one in between', async () => {
    const dataDir = tempDir('verge-cdeploy-offline-');
    let e = await up('node-offline', [], dataDir);
    started.push(e);
    const v1 = await upload(a, 'menu', await app('menu', 'menu v1'));
    await deploy(a, 'menu', v1);
    await servesVersion(e, 'menu', v1);
    assert.equal(await e.stop(), 0);

    // Uploaded through one node, deployed through another by a prefix of its id.
    const v2 = await upload(c, 'menu', await app('menu', 'menu v2'));
    await deploy(b, 'menu', v2.slice(0, 12));
    await servesVersion(a, 'menu', v2);
    const v3 = await upload(a, 'menu', await app('menu', 'menu v3'));
    await deploy(a, 'menu', v3);
    await servesVersion(b, 'menu', v3);

    e = await up('node-offline', [], dataDir);
    started.push(e);
    const seen = new Set<string>();
    await until('node-offline serving menu v3', async () => {
      const s = await served(e, 'menu');
      seen.add(s.body);
      return s.version === v3.slice(0, 12) ? true : undefined;
    });
    assert.ok(!seen.has('menu v2'), `served: ${[...seen].join(', ')}`);
    assert.deepEqual([...seen].filter((x) => x !== 'menu v1' && x !== 'menu v3'), []);
    // Not even fetched: a node takes only the versions of the deployment it serves.
    const versions = (await adminCall(e, 'GET', '/v1/apps/menu/versions')).json.versions as Array<{ id: string }>;
    assert.deepEqual(versions.map((v) => v.id).sort(), [v1, v3].sort());
  });

  test('a node whose trust list lacks the signer refuses the version and says so, while the others serve it', async () => {
    const keys = tempDir('verge-cdeploy-keys-');
    for (const k of ['alice', 'bob']) assert.equal((await runVerge(['keygen', '-o', k], { cwd: keys })).code, 0);
    const [trusting, untrusting] = await Promise.all([up('node-trusts-alice', ['--trust-key', path.join(keys, 'alice.pub')]), up('node-trusts-bob', ['--trust-key', path.join(keys, 'bob.pub')])]);
    started.push(trusting, untrusting);
    const r = await runVerge(['deploy', await app('signed', 'signed v1'), '--to', a.adminUrl!, '--key', path.join(keys, 'alice.key')]);
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();
    for (const n of [a, b, trusting]) await servesVersion(n, 'signed', id);

    const mine = await until('node-trusts-bob refusing', async () => (await clusterStatus(untrusting)).deployments.find((d) => d.app === 'signed' && d.state === 'refused'));
    assert.equal(mine.code, 'SIGNATURE_UNTRUSTED');
    assert.match(mine.message!, /which this node does not trust/);
    assert.equal((await served(untrusting, 'signed')).version, '');
    // The others see the refusal in its heartbeat.
    await until('node-a seeing node-trusts-bob refuse', async () => ((await clusterStatus(a)).nodes.find((n) => n.id === 'node-trusts-bob')?.deploys?.signed?.state === 'refused' ? true : undefined));
    const text = await runVerge(['cluster', 'status', '--from', a.adminUrl!]);
    assert.match(text.stdout, /node-trusts-bob [^\n]*\n(\s+REFUSES [^\n]*\n)*\s+REFUSES signed deployment d-[0-9a-f]+: SIGNATURE_UNTRUSTED/);
    const own = await runVerge(['cluster', 'status', '--from', untrusting.adminUrl!]);
    assert.match(own.stdout, /signed d-[0-9a-f]+ .*; this node: REFUSED \(SIGNATURE_UNTRUSTED: /);
  });

  test('a bundle whose bytes in the object store are not its id is refused', async () => {
    const id = await upload(a, 'odd', await app('odd', 'the real one'));
    // Another build of the same app put under the first one's id: a valid bundle, just not that version.
    const other = await bundleBytes(await app('odd', 'an impostor'));
    assert.notEqual(other.id, id);
    const nc = await connect({ servers: nats.servers.map((s) => s.url) });
    try {
      const store = await new Objm(nc).open(DEPLOY_BUCKETS.bundles);
      await store.putBlob({ name: id }, other.bytes);
    } finally {
      await nc.close();
    }
    await deploy(a, 'odd', id);
    await servesVersion(a, 'odd', id);
    for (const n of [b, c]) {
      const d = await until(`${n.url} refusing odd`, async () => (await clusterStatus(n)).deployments.find((x) => x.app === 'odd' && x.state === 'refused'));
      assert.equal(d.code, 'VERSION_CORRUPT');
      assert.match(d.message!, new RegExp(`stored in the cluster as version ${id.slice(0, 12)} holds files that hash to ${other.id.slice(0, 12)}`));
      assert.deepEqual(await served(n, 'odd'), { version: '', body: '' });
      const res = await adminCall(n, 'GET', '/v1/apps/odd/versions');
      assert.equal(res.status, 404, 'neither the version nor the impostor is stored');
    }
  });

  test('a node frozen during two deploys gets both events at once when it thaws, and serves the latest without ever serving the one in between', async () => {
    const f = await up('node-frozen');
    started.push(f);
    const v1 = await upload(a, 'cart', await app('cart', 'cart v1'));
    await deploy(a, 'cart', v1);
    await servesVersion(f, 'cart', v1);

    // SIGSTOP: a stalled process (a long pause, a frozen VM); NATS keeps its connection and queues what it watches.
    f.proc.kill('SIGSTOP');
    let v3: string;
    try {
      const v2 = await upload(a, 'cart', await app('cart', 'cart v2'));
      await deploy(a, 'cart', v2);
      await servesVersion(b, 'cart', v2);
      v3 = await upload(b, 'cart', await app('cart', 'cart v3'));
      await deploy(b, 'cart', v3);
      await servesVersion(a, 'cart', v3);
    } finally {
      f.proc.kill('SIGCONT');
    }
    const seen = new Set<string>();
    await until('node-frozen serving cart v3', async () => {
      const s = await served(f, 'cart');
      seen.add(s.body);
      return s.version === v3.slice(0, 12) ? true : undefined;
    });
    assert.deepEqual([...seen].filter((x) => x !== 'cart v1' && x !== 'cart v3'), [], `served: ${[...seen].join(', ')}`);
    const versions = (await adminCall(f, 'GET', '/v1/apps/cart/versions')).json.versions as Array<{ id: string }>;
    assert.deepEqual(versions.map((v) => v.id).sort(), [v1, v3].sort());
  });

  // Last: it stops one of the three NATS servers.
  test('with one NATS server of three stopped, a deploy still reaches every node', async () => {
    await nats.servers[0]!.stop();
    const id = await upload(b, 'shop', await app('shop', 'shop v2'));
    // A node that was on the stopped server refuses deploys until its client has moved to another.
    await until('a deploy through node B accepted', async () => ((await adminCall(b, 'PUT', '/v1/apps/shop/deployment', { versions: [{ id, weight: 100 }] })).status === 200 ? true : undefined));
    for (const n of [a, b, c]) await servesVersion(n, 'shop', id);
  });
});

test('a clustered node that cannot reach NATS takes an upload but refuses a deploy (CLUSTER_UNAVAILABLE) rather than serving it alone', async () => {
  const n = await startVerge('', ['--cluster', `nats://127.0.0.1:${await freePort()}`, '--node-id', 'node-alone', '--data-dir', tempDir('verge-cdeploy-alone-')], { admin: true });
  try {
    const id = await upload(n, 'solo', await app('solo', 'solo v1'));
    const r = await adminCall(n, 'PUT', '/v1/apps/solo/deployment', { versions: [{ id, weight: 100 }] });
    assert.equal(r.status, 503);
    assert.equal(r.json.error, 'CLUSTER_UNAVAILABLE');
    assert.match(r.json.message as string, /cannot reach NATS now; a deploy here would not reach the other nodes, so nothing was changed/);
    assert.deepEqual(await served(n, 'solo'), { version: '', body: '' });
  } finally {
    await n.stop();
  }
});
