/**
 * Seed 001 across three nodes (docs/cluster.md, "Replicated stores"): a three-server NATS cluster
 * with JetStream and three Verge nodes serving examples/sensor-aggregator's cluster variant, whose
 * store is `replicated` (a stream with 3 replicas). Node C reaches NATS only through a TCP proxy the
 * test controls. Cut it: C keeps serving and counts its readings locally while A and B take theirs;
 * heal: every node reports exactly the readings sent to all three, and every region's sum to the
 * thousandth of a degree. Then readings C acknowledged while cut survive a kill -9 of C and go out
 * after its restart. Each reading is sent once, to one node; every wait is a bounded poll.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startNatsCluster, type NatsCluster } from '../support/nats.js';
import { until } from '../support/postgres.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const MANIFEST = fileURLToPath(new URL('../../../examples/sensor-aggregator/verge.cluster.toml', import.meta.url));
const REGIONS = ['north', 'south', 'harbour'];
const CONVERGE_MS = 30_000;

interface Sent {
  count: number;
  milli: number;
}

describe('a replicated store across three nodes, one of them partitioned', { timeout: 300_000 }, () => {
  let nats: NatsCluster;
  let proxy: TcpProxy;
  const nodes: Record<'a' | 'b' | 'c', VergeProcess | undefined> = { a: undefined, b: undefined, c: undefined };
  const dirs: Record<string, string> = {};
  /** What was acknowledged per region, over all nodes. */
  const sent = new Map<string, Sent>(REGIONS.map((r) => [r, { count: 0, milli: 0 }]));
  let readings = 0;

  const start = (name: 'a' | 'b' | 'c', url: string) =>
    startVerge(MANIFEST, ['--data-dir', dirs[name]!, '--workers', '1'], { admin: true, env: { VERGE_VAR_NATS_URL: url }, readyMs: 60_000 });

  before(async () => {
    const build = await runVerge(['build', MANIFEST]);
    assert.equal(build.code, 0, `verge build: ${build.stdout}\n${build.stderr}`);
    nats = await startNatsCluster(3);
    proxy = await startTcpProxy(nats.servers[2]!.port);
    for (const n of ['a', 'b', 'c']) dirs[n] = mkdtempSync(path.join(os.tmpdir(), `verge-repl-${n}-`));
    [nodes.a, nodes.b, nodes.c] = await Promise.all([start('a', nats.urls), start('b', nats.urls), start('c', proxy.url('nats'))]);
  });

  after(async () => {
    await Promise.all(Object.values(nodes).map((n) => n?.stop()));
    await proxy?.close();
    await nats?.destroy();
    for (const dir of Object.values(dirs)) rmSync(dir, { recursive: true, force: true });
  });

  /** Posts `n` readings to `node`, each once, from devices of their own; records what was acknowledged. */
  async function post(node: VergeProcess, tag: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const region = REGIONS[i % REGIONS.length]!;
      // Thousandths of a degree from -90 to 70, so the fixed-point sum is what the test adds up.
      const milli = ((readings * 7919) % 160_001) - 90_000;
      readings++;
      const res = await fetch(`${node.url}/readings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ device_id: `${tag}-${i % 7}`, region, temperature_c: milli / 1000, timestamp: 1_700_000_000 + i }),
      });
      assert.equal(res.status, 201, `${tag} reading ${i}: ${res.status} ${await res.text()}`);
      const s = sent.get(region)!;
      s.count++;
      s.milli += milli;
    }
  }

  async function region(node: VergeProcess, name: string): Promise<{ count: number; sum_milli_c: number } | undefined> {
    const res = await fetch(`${node.url}/regions/${name}`);
    if (res.status === 404) return undefined;
    assert.equal(res.status, 200);
    return (await res.json()) as { count: number; sum_milli_c: number };
  }

  async function metric(node: VergeProcess, name: string): Promise<number | undefined> {
    const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
    const m = new RegExp(`^${name}\\{app="sensor-aggregator",store="default"\\} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  }

  /** Every node reports exactly what was sent, in every region, within CONVERGE_MS. */
  async function converged(what: string): Promise<void> {
    let last = '';
    await until(
      async () => {
        const seen = await Promise.all(Object.entries(nodes).map(async ([n, node]) => [n, await Promise.all(REGIONS.map((r) => region(node!, r)))] as const));
        last = JSON.stringify(seen);
        return seen.every(([, stats]) => stats.every((s, i) => s?.count === sent.get(REGIONS[i]!)!.count && s.sum_milli_c === sent.get(REGIONS[i]!)!.milli));
      },
      `${what}: every node reports ${JSON.stringify([...sent])}; last seen ${last}`,
      CONVERGE_MS,
      'replicated store',
    ).catch(async (err: Error) => assert.fail(`${err.message}\nlast seen: ${last}\neach node's link: ${await links()}`));
  }

  /** Each node's replication state as its admin API shows it, for a failing wait's message. */
  async function links(): Promise<string> {
    const shown = await Promise.all(
      Object.entries(nodes).map(async ([n, node]) => {
        try {
          const res = await fetch(`${node!.adminUrl}/v1/apps/sensor-aggregator/stores`, { signal: AbortSignal.timeout(5000) });
          const body = (await res.json()) as { stores: Array<{ name: string; replication?: unknown }> };
          return `${n}: ${JSON.stringify(body.stores.find((x) => x.name === 'default')?.replication)}`;
        } catch (err) {
          return `${n}: not read (${String(err)})`;
        }
      }),
    );
    return shown.join('; ');
  }

  test('connected, readings sent to any node are counted on all three', async () => {
    await Promise.all([post(nodes.a!, 'a0', 30), post(nodes.b!, 'b0', 30), post(nodes.c!, 'c0', 30)]);
    await converged('before the partition');
    for (const node of Object.values(nodes)) assert.equal(await metric(node!, 'verge_kv_replication_connected'), 1);
    const nc = await connect({ servers: nats.urls });
    try {
      const info = await (await jetstreamManager(nc)).streams.info('sensor-aggregator');
      assert.equal(info.config.num_replicas, 3, 'the stream is kept on all three servers');
      assert.equal(info.config.max_msgs_per_subject, 1);
    } finally {
      await nc.close();
    }
  });

  test('cut off from NATS, C keeps taking readings and counting them; healed, every node reports the exact totals', async () => {
    const before = await Promise.all(REGIONS.map((r) => region(nodes.c!, r)));
    proxy.cut();
    await until(async () => (await metric(nodes.c!, 'verge_kv_replication_connected')) === 0, 'C sees its link down', 15_000, 'node C');
    await Promise.all([post(nodes.a!, 'a1', 45), post(nodes.b!, 'b1', 45), post(nodes.c!, 'c1', 60)]);
    // C counted its own 60 (20 a region) and none of A's and B's meanwhile.
    const during = await Promise.all(REGIONS.map((r) => region(nodes.c!, r)));
    assert.deepEqual(during.map((s, i) => s!.count - before[i]!.count), [20, 20, 20]);
    assert.ok((await metric(nodes.c!, 'verge_kv_replication_queued_changes'))! > 0, 'C shows its queued changes');
    await until(async () => (await metric(nodes.c!, 'verge_kv_replication_lag_seconds'))! > 0, 'C shows its lag', 5000, 'node C');
    // The dashboard's store list says the same.
    const stores = (await (await fetch(`${nodes.c!.adminUrl}/v1/apps/sensor-aggregator/stores`)).json()) as { stores: Array<{ name: string; backend: string; replication: { connected: boolean; queued_changes: number } }> };
    const shown = stores.stores.find((x) => x.name === 'default')!;
    assert.equal(shown.backend, 'replicated');
    assert.equal(shown.replication.connected, false);
    assert.ok(shown.replication.queued_changes > 0);
    proxy.heal();
    await converged('after healing');
    await until(async () => (await metric(nodes.c!, 'verge_kv_replication_queued_changes')) === 0, 'C sent everything', 5000, 'node C');
  });

  test('readings C acknowledged while cut off survive kill -9 of C and go out after its restart', async () => {
    proxy.cut();
    await until(async () => (await metric(nodes.c!, 'verge_kv_replication_connected')) === 0, 'C sees its link down', 15_000, 'node C');
    await Promise.all([post(nodes.c!, 'c2', 30), post(nodes.a!, 'a2', 15)]);
    nodes.c!.proc.kill('SIGKILL');
    await until(() => nodes.c!.proc.exitCode !== null || nodes.c!.proc.signalCode !== null, 'C exits', 5000, 'node C');
    proxy.heal();
    nodes.c = await start('c', proxy.url('nats'));
    await converged('after C restarted');
  });
});
