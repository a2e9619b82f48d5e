/**
 * The `cluster-deploys` part (issue 15: "a deployment is served by every connected node within
 * 1 s"): three Verge nodes on a three-server NATS cluster with JetStream (replicas 3, test/support's
 * helpers: free loopback ports, temp folders, stopped by PID), default heartbeat (2 s), so only the
 * watch makes a node faster than a heartbeat.
 *
 * Each of BENCH_CLUSTER_DEPLOYS rounds uploads a new version of one app to node A (not timed), then
 * times `PUT /v1/apps/APP/deployment` on A until each node answers the app's route with the new
 * version (`x-verge-version`), polling each every 5 ms. Reported per node and for "every
 * node" (the slowest of the three), p50 and max:
 *  - new version: B and C fetch the bundle from the object store, check it and compile it;
 *  - known version: back to a version every node already holds (a rollback), no fetch.
 * The baseline, measured in the same run: a fourth node without --cluster, given the same upload
 * and deploy, timed the same way (a single node's activation, no cluster write).
 *
 * Knobs: BENCH_CLUSTER_DEPLOYS (20), BENCH_CLUSTER_HEARTBEAT_S (2).
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { PassThrough } from 'node:stream';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsCluster, type NatsCluster } from '../../test/support/nats.js';
import { startVerge, type VergeProcess } from '../../test/support/verge-process.js';
import { writeApp } from '../../test/support/app.js';
import { FD_WRITE, respondWith, wat } from '../../test/support/wat.js';
import { packBundle } from '../../src/bundle/index.js';
import { intEnv } from './proc.js';
import { fmtMs, median, table } from './report.js';

export interface ClusterDeploysConfig {
  log: (line: string) => void;
}

interface Round {
  /** Milliseconds from the PUT to each node serving the version: A (the PUT's answer included), B, C. */
  a: number;
  b: number;
  c: number;
  /** The same deploy on the node without a cluster. */
  solo: number;
}

export interface ClusterDeploysResults {
  deploys: number;
  heartbeatS: number;
  fresh: Round[];
  known: Round[];
  /** On B and C: deployments served after a watch event, and after a heartbeat's read of the bucket. */
  via: { watch: number; sweep: number };
  /** The machine's 1-minute load average at the end, for reading the numbers. */
  load: number;
}

const APP = 'bench';
const POLL_TIMEOUT_MS = 10_000;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function versionAt(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}/${APP}/x`, { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200 ? String(res.headers['x-verge-version'] ?? '') : ''));
    });
    req.on('error', reject);
    req.setTimeout(2000, () => req.destroy(new Error('no answer within 2 s')));
  });
}

/** Between polls: fine enough to time, light enough not to starve the nodes of a 2-core machine. */
const POLL_EVERY_MS = 5;

/** Polls until the node serves `id`; the time it first did, from `t0`. */
async function servedAfter(node: VergeProcess, id: string, t0: number): Promise<number> {
  const want = id.slice(0, 12);
  for (;;) {
    if ((await versionAt(node.url)) === want) return performance.now() - t0;
    if (performance.now() - t0 > POLL_TIMEOUT_MS) throw new Error(`${node.url} did not serve ${want} within ${POLL_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, POLL_EVERY_MS));
  }
}

async function version(admins: string[], n: number): Promise<string> {
  const module = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith(`content-type: text/plain\n\nbench version ${n}`)} (func (export "_start") (call $respond)))`);
  const dir = writeApp(APP, { web: { route: `/${APP}/...`, wasm: module } });
  try {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await packBundle(dir, out);
    let id = '';
    for (const admin of admins) {
      const res = await fetch(`${admin}/v1/apps/${APP}/versions`, { method: 'POST', body: Buffer.concat(chunks) });
      if (res.status !== 201 && res.status !== 200) throw new Error(`upload: ${res.status} ${await res.text()}`);
      id = ((await res.json()) as { version: { id: string } }).version.id;
    }
    return id;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function put(node: VergeProcess, id: string): Promise<void> {
  const res = await fetch(`${node.adminUrl}/v1/apps/${APP}/deployment`, { method: 'PUT', body: JSON.stringify({ versions: [{ id, weight: 100 }] }) });
  if (res.status !== 200) throw new Error(`deploy: ${res.status} ${await res.text()}`);
}

async function timedDeploy(nodes: VergeProcess[], solo: VergeProcess, id: string): Promise<Round> {
  const [a, b, c] = nodes as [VergeProcess, VergeProcess, VergeProcess];
  const t0 = performance.now();
  const watching = Promise.all([servedAfter(b, id, t0), servedAfter(c, id, t0)]);
  await put(a, id);
  const tA = await servedAfter(a, id, t0);
  const [tB, tC] = await watching;
  const s0 = performance.now();
  await put(solo, id);
  return { a: tA, b: tB, c: tC, solo: await servedAfter(solo, id, s0) };
}

export async function clusterDeploysPhase(cfg: ClusterDeploysConfig): Promise<ClusterDeploysResults> {
  const deploys = intEnv('BENCH_CLUSTER_DEPLOYS', 20);
  const heartbeatS = intEnv('BENCH_CLUSTER_HEARTBEAT_S', 2);
  const dirs: string[] = [];
  let nats: NatsCluster | undefined;
  const nodes: VergeProcess[] = [];
  let solo: VergeProcess | undefined;
  try {
    cfg.log('cluster-deploys: starting a three-server NATS cluster and three nodes');
    nats = await startNatsCluster(3);
    for (const id of ['bench-a', 'bench-b', 'bench-c']) {
      const dir = mkdtempSync(path.join(os.tmpdir(), `verge-bench-${id}-`));
      dirs.push(dir);
      nodes.push(await startVerge('', ['--cluster', nats.urls, '--cluster-replicas', '3', '--node-id', id, '--cluster-heartbeat', String(heartbeatS), '--data-dir', dir], { admin: true }));
    }
    const soloDir = mkdtempSync(path.join(os.tmpdir(), 'verge-bench-solo-'));
    dirs.push(soloDir);
    solo = await startVerge('', ['--data-dir', soloDir], { admin: true });
    const admins = [nodes[0]!.adminUrl!, solo.adminUrl!];
    // One deploy before timing: opens the buckets and the watches.
    const first = await version(admins, 0);
    await timedDeploy(nodes, solo, first);
    const fresh: Round[] = [];
    const ids: string[] = [first];
    for (let i = 1; i <= deploys; i++) {
      const id = await version(admins, i);
      ids.push(id);
      fresh.push(await timedDeploy(nodes, solo, id));
    }
    cfg.log(`cluster-deploys: ${deploys} new versions deployed`);
    const known: Round[] = [];
    for (let i = 0; i < deploys; i++) known.push(await timedDeploy(nodes, solo, ids[i % (ids.length - 1)]!));
    cfg.log(`cluster-deploys: ${deploys} known versions deployed`);
    const via = { watch: 0, sweep: 0 };
    for (const n of nodes.slice(1)) {
      for (const r of n.logs()) {
        if (r.msg === 'cluster: deployment served' && (r.via === 'watch' || r.via === 'sweep')) via[r.via]++;
      }
    }
    return { deploys, heartbeatS, fresh, known, via, load: os.loadavg()[0]! };
  } finally {
    await Promise.all([...nodes, ...(solo ? [solo] : [])].map((n) => n.stop()));
    await nats?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

export function renderClusterDeploys(r: ClusterDeploysResults): string {
  const row = (label: string, rounds: Round[], pick: (x: Round) => number) => {
    const v = rounds.map(pick);
    return [label, fmtMs(median(v)), fmtMs(Math.max(...v))];
  };
  const every = (x: Round) => Math.max(x.a, x.b, x.c);
  const rows = (rounds: Round[], kind: string) => [
    row(`${kind}: a node without --cluster (baseline)`, rounds, (x) => x.solo),
    row(`${kind}: node A (took the deploy)`, rounds, (x) => x.a),
    row(`${kind}: node B`, rounds, (x) => x.b),
    row(`${kind}: node C`, rounds, (x) => x.c),
    row(`${kind}: **every node**`, rounds, every),
  ];
  const within1s = (rounds: Round[]) => rounds.filter((x) => every(x) <= 1000).length;
  return [
    '### Deploy propagation across a cluster',
    '',
    `Three nodes on a three-server NATS cluster (JetStream, replicas 3), heartbeat ${r.heartbeatS} s; ${r.deploys} deploys of each kind through node A; ` +
      'time from `PUT /v1/apps/APP/deployment` on A until each node answers with the new version (bench/lib/cluster-deploys.ts).',
    '',
    table(['deploy', 'p50', 'max'], [...rows(r.fresh, 'new version'), ...rows(r.known, 'known version')], ['l', 'r', 'r']),
    '',
    `Target: every node within 1 s. New versions: ${within1s(r.fresh)}/${r.fresh.length} within 1 s; known versions: ${within1s(r.known)}/${r.known.length}. ` +
      `On B and C, ${r.via.watch} deployments were served after a watch event and ${r.via.sweep} after a heartbeat's read of the bucket. ` +
      `Load average at the end: ${r.load.toFixed(1)} (2 cores).`,
    '',
  ].join('\n');
}
