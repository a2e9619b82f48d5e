/**
 * Metrics end to end: the real CLI with an admin listener serves WAGI guests that write and miss in
 * a SQLite store (answered in the worker) and a memory store (answered on the main thread), make an
 * outbound call that fails, and a wasi:http component; then /metrics, scraped with the token, has
 * every series docs/observability.md lists, with the labels and counts those requests give.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { writeApp } from '../support/app.js';
import { fetcher } from '../support/capability-guests.js';
import { FD_WRITE, VERGE, at, respondWith, wat } from '../support/wat.js';
import { fixtureComponent } from '../support/components.js';

const TOKEN = 'metrics-e2e-token-0123456789abcdef';
const STORE_REQUESTS = 3;
/** Every request is bounded. */
const bounded = () => ({ signal: AbortSignal.timeout(15_000) });

/** Opens `store`, sets k = v, reads a key that is not there, and answers 200 "stored". */
async function storeGuest(store: string): Promise<Uint8Array> {
  const [storeSeg, storeLen] = at(2048, store);
  const [keySeg, keyLen] = at(2100, 'k');
  const [valueSeg, valueLen] = at(2200, 'v');
  const [missSeg, missLen] = at(2300, 'missing');
  return wat(`(module ${FD_WRITE} ${VERGE} (memory 1) ${respondWith('content-type: text/plain\n\nstored')} ${storeSeg} ${keySeg} ${valueSeg} ${missSeg}
    (func (export "_start") (local $h i32)
      (local.set $h (call $kv_open (i32.const 2048) (i32.const ${storeLen})))
      (drop (call $kv_set (local.get $h) (i32.const 2100) (i32.const ${keyLen}) (i32.const 2200) (i32.const ${valueLen})))
      (drop (call $kv_get (local.get $h) (i32.const 2300) (i32.const ${missLen}) (i32.const 4096) (i32.const 64)))
      (call $respond)))`);
}

/** A loopback port nothing listens on (taken, then let go). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

/** The value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const found: number[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...m[2]!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) found.push(Number(m[3]));
  }
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found[0];
}

describe('metrics on the admin listener', () => {
  let node: VergeProcess;
  let text: string;
  let version: string;

  before(async () => {
    const refused = `http://127.0.0.1:${await closedPort()}`;
    const dir = writeApp(
      'metered',
      {
        store: { route: '/store', wasm: await storeGuest('default'), extra: 'key_value_stores = ["default"]' },
        cache: { route: '/cache/...', wasm: await storeGuest('cache'), extra: 'key_value_stores = ["cache"]' },
        fetch: { route: '/fetch', wasm: await fetcher('target'), extra: `variables = ["target"]\nallowed_outbound_hosts = ["${refused}"]` },
        counter: { route: '/counter/...', wasm: await fixtureComponent('counter'), extra: 'key_value_stores = ["default"]' },
      },
      `[variables]\ntarget = { default = "${refused}/data" }\n\n[key_value_stores.cache]\nbackend = "memory"`,
    );
    node = await startVerge(dir, ['--workers', '1'], { admin: true, readyMs: 60_000, env: { VERGE_ADMIN_TOKEN: TOKEN } });

    for (let i = 0; i < STORE_REQUESTS; i++) {
      const r = await fetch(`${node.url}/store`, bounded());
      assert.equal(await r.text(), 'stored');
      version = r.headers.get('x-verge-version')!;
    }
    assert.equal(await (await fetch(`${node.url}/cache/x`, bounded())).text(), 'stored');
    const failed = await fetch(`${node.url}/fetch`, bounded());
    assert.equal(failed.status, 500);
    assert.equal(await failed.text(), 'error:8', 'the outbound call failed with NETWORK');
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${node.url}/counter/kv`, bounded())).status, 200);
    assert.equal((await fetch(`${node.url}/nowhere`, bounded())).status, 404);

    const scraped = await fetch(`${node.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` }, ...bounded() });
    assert.equal(scraped.status, 200);
    text = await scraped.text();
  });

  after(async () => {
    assert.equal(await node?.stop(), 0);
  });

  const store = () => ({ app: 'metered', component: 'store', version });

  test('requests are counted by app, route, component, version and status class; an unmatched one by dashes', () => {
    assert.match(version, /^[0-9a-f]{12}$/);
    assert.equal(sample(text, 'verge_requests_total', { ...store(), route: '/store', status_class: '2xx' }), STORE_REQUESTS);
    assert.equal(sample(text, 'verge_requests_total', { app: 'metered', route: '/fetch', component: 'fetch', version, status_class: '5xx' }), 1);
    assert.equal(sample(text, 'verge_requests_total', { app: 'metered', route: '/counter/...', component: 'counter', version, status_class: '2xx' }), 3, 'the route pattern, not the path');
    assert.equal(sample(text, 'verge_requests_total', { app: '-', route: '-', component: '-', version: '-', status_class: '4xx' }), 1);
    assert.doesNotMatch(text, /route="\/counter\/kv"/, 'no raw path as a label');
  });

  test('latency, queue wait, instantiation and guest memory are observed for every request, none of them traced', () => {
    assert.equal(sample(text, 'verge_request_duration_seconds_count', { ...store(), route: '/store' }), STORE_REQUESTS);
    assert.equal(sample(text, 'verge_queue_wait_seconds_count', store()), STORE_REQUESTS);
    const waited = sample(text, 'verge_queue_wait_seconds_sum', store())!;
    assert.ok(waited >= 0 && waited < STORE_REQUESTS * 5, `queue wait sum ${waited} s`);
    // One worker: the WAGI module's first request makes its instance, the next ones run in it put back after the last.
    assert.equal(sample(text, 'verge_instantiation_seconds_count', { ...store(), instance: 'fresh' }), 1);
    assert.equal(sample(text, 'verge_instantiation_seconds_count', { ...store(), instance: 'prepared' }), STORE_REQUESTS - 1);
    const made = sample(text, 'verge_instantiation_seconds_sum', { ...store(), instance: 'fresh' })!;
    assert.ok(made > 0 && made < 1, `instantiation sum ${made} s`);
    // The guest declares one 64 KiB page and never grows it.
    assert.equal(sample(text, 'verge_guest_memory_bytes_bucket', { ...store(), le: '65536' }), STORE_REQUESTS);
  });

  test("a component's first request makes its instance on the path, and the next ones get one made ahead", () => {
    const counter = { app: 'metered', component: 'counter', version };
    assert.equal(sample(text, 'verge_instantiation_seconds_count', { ...counter, instance: 'fresh' }), 1);
    assert.equal(sample(text, 'verge_instantiation_seconds_count', { ...counter, instance: 'prepared' }), 2);
    const memory = sample(text, 'verge_guest_memory_bytes_count', counter);
    assert.equal(memory, 3, 'its core modules’ memory is observed too');
    assert.equal(sample(text, 'verge_host_call_duration_seconds_count', { ...counter, capability: 'kv', outcome: 'ok' }), 6, 'store.open and increment, three times');
  });

  test('host calls are timed by capability and outcome, in the worker (SQLite) and on the main thread (memory store, outbound HTTP)', () => {
    const calls = (component: string, capability: string, outcome: string) =>
      sample(text, 'verge_host_call_duration_seconds_count', { app: 'metered', component, version, capability, outcome });
    assert.equal(calls('store', 'kv', 'ok'), STORE_REQUESTS * 2, 'kv_open and kv_set');
    assert.equal(calls('store', 'kv', 'not_found'), STORE_REQUESTS, 'the miss');
    assert.equal(calls('cache', 'kv', 'ok'), 2, 'kv_open in the worker, kv_set on the main thread');
    assert.equal(calls('cache', 'kv', 'not_found'), 1, 'the miss, answered on the main thread');
    assert.equal(calls('fetch', 'variables', 'ok'), 1);
    assert.equal(calls('fetch', 'outbound-http', 'network'), 1);
    const outbound = sample(text, 'verge_host_call_duration_seconds_sum', { app: 'metered', component: 'fetch', version, capability: 'outbound-http', outcome: 'network' })!;
    assert.ok(outbound > 0 && outbound < 10, `the failed call took ${outbound} s`);
  });

  test('worker restarts, breaker state and dropped spans are in the same scrape', () => {
    assert.match(text, /^# TYPE verge_worker_restarts_total counter$/m);
    assert.match(text, /^# TYPE verge_kv_breaker_state gauge$/m);
    assert.match(text, /^# TYPE verge_trace_spans_dropped_total counter$/m);
    assert.match(text, /^verge_workers 1$/m);
  });
});
