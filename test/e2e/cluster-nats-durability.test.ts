/**
 * Acknowledged writes to a `nats` store are not lost when a Verge node dies or a NATS server
 * stops in the middle of a burst (issue 15): three routed nats-servers with JetStream, a store with
 * three replicas, two Verge nodes serving a WAGI guest that writes through verge:v1. A write counts
 * as acknowledged when its HTTP answer is a 200; every acknowledged key must then read back, with
 * its value, through the other node.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { startNatsCluster, type NatsCluster } from '../support/nats.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

const STORE = 'shared';

async function call(base: string, op: string, query: Record<string, string>): Promise<{ status: number; value?: unknown }> {
  const res = await fetch(`${base}/kv/${op}?${new URLSearchParams({ store: STORE, ...query })}`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, ...((await res.json()) as object) };
}

/**
 * Writes `prefix-0`, `prefix-1`, … through `base` from `lanes` concurrent loops until `stop()` says
 * so or `max` writes were sent; the keys whose write was answered 200 go into `acked` as they come.
 */
async function burst(base: string, prefix: string, lanes: number, max: number, stop: () => boolean, acked: string[]): Promise<string[]> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!stop() && next < max) {
        const key = `${prefix}-${next++}`;
        try {
          const r = await call(base, 'kv-set', { key, value: `v:${key}` });
          if (r.status === 200 && r.value === true) acked.push(key);
        } catch {
          // A refused or cut connection: not acknowledged, so nothing is promised for it.
        }
      }
    }),
  );
  return acked;
}

async function assertAllRead(base: string, keys: string[]): Promise<void> {
  const missing: string[] = [];
  for (const key of keys) {
    const r = await call(base, 'kv-get', { key });
    if (r.status !== 200 || r.value !== `v:${key}`) missing.push(`${key}: ${r.status} ${JSON.stringify(r.value)}`);
  }
  assert.deepEqual(missing, [], `${missing.length} of ${keys.length} acknowledged writes were lost`);
}

describe('acknowledged writes to a nats store across a three-server NATS cluster', { timeout: 240_000 }, () => {
  let nats: NatsCluster;
  let app: string;
  let a: VergeProcess | undefined;
  let b: VergeProcess;

  before(async () => {
    nats = await startNatsCluster(3);
    const toml = `[key_value_stores.${STORE}]\nbackend = "nats"\nurl = "${nats.urls}"\nreplicas = 3\ntimeout_ms = 5000`;
    app = writeApp('natsdurable', { kv: { route: '/kv/...', wasm: buildCapabilityProbe(), extra: `key_value_stores = ["${STORE}"]`, limits: 'timeout_ms = 15000' } }, toml);
    [a, b] = await Promise.all([startVerge(app, ['--workers', '2']), startVerge(app, ['--workers', '2'])]);
    // The bucket exists (made by the first write) before any burst starts.
    assert.equal((await call(b.url, 'kv-set', { key: 'warm', value: 'v:warm' })).status, 200);
  });

  after(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await nats?.destroy();
  });

  test('kill -9 of a Verge node during a burst loses none of the writes it acknowledged', async () => {
    const node = a!;
    const acked: string[] = [];
    const writing = burst(node.url, 'k9', 8, 5000, () => false, acked);
    // Kill it mid-burst, once it has acknowledged some writes (bounded: within 30 s).
    const until = Date.now() + 30_000;
    while (acked.length < 40) {
      assert.ok(Date.now() < until, `node A acknowledged ${acked.length} writes within 30 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    node.proc.kill('SIGKILL');
    a = undefined;
    await writing;
    assert.ok(acked.length < 5000, 'the burst ended before the kill');
    await assertAllRead(b.url, acked);
  });

  test('stopping one NATS server of three during a burst loses none of the acknowledged writes', async () => {
    let done = false;
    const acked: string[] = [];
    const writing = burst(b.url, 'stop', 8, 100_000, () => done, acked);
    const until = Date.now() + 30_000;
    while (acked.length < 40) {
      assert.ok(Date.now() < until, `${acked.length} writes acknowledged within 30 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    await nats.servers[0]!.stop();
    const atStop = acked.length;
    // Keep writing on the two servers left until more writes are acknowledged (bounded).
    const more = Date.now() + 30_000;
    while (acked.length < atStop + 40) {
      assert.ok(Date.now() < more, `${acked.length - atStop} writes acknowledged after the server stopped, within 30 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    done = true;
    await writing;
    await assertAllRead(b.url, acked);
  });
});
