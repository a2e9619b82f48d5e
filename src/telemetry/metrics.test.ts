import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createMetrics, type MeteredRoute, type Metrics } from './metrics.js';
import { hostCallCode } from './host-call-codes.js';
import type { RunMeasures } from '../dispatch/protocol.js';

const GAUGES = { queued: () => 0, busy: () => 0, workers: () => 1, versions: () => 1 };

function metrics(forgetAfterMs?: number): Metrics {
  return createMetrics(GAUGES, {
    versionLabels: (key) => ({ app: key.split('@')[0]!, version: key.split('@')[1]!.split('#')[0]! }),
    ...(forgetAfterMs === undefined ? {} : { forgetAfterMs }),
  });
}

function route(pattern: string, key = 'shop@3f2a9c01d4e5#1', component = 'web'): MeteredRoute {
  const [app, rest] = key.split('@') as [string, string];
  return { pattern, target: { version: { key, shortId: rest.split('#')[0]!, app: { name: app } }, component: { name: component } } };
}

/** The value of one series of a metric (a histogram's _count or _sum by `suffix`), by its labels. */
async function value(m: Metrics, name: string, labels: Record<string, string>, suffix = ''): Promise<number | undefined> {
  const metric = await m.registry.getSingleMetric(name)!.get();
  const found = metric.values.find(
    (v) => ((v as { metricName?: string }).metricName ?? name) === name + suffix && Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  return found?.value;
}

const measured = (over: Partial<RunMeasures> = {}): RunMeasures => ({ claimedAt: 1002.5, instantiateMs: 0.4, prepared: false, memoryBytes: 2 * 65536, ...over });
const SHOP = { app: 'shop', component: 'web', version: '3f2a9c01d4e5' };

describe('metrics', () => {
  test('a request is counted by app, route, component, version and status class, and one no route matched by dashes', async () => {
    const m = metrics();
    const r = route('/cart/...');
    m.observeRequest(r, 200, 0.01);
    m.observeRequest(r, 204, 0.02);
    m.observeRequest(r, 503, 0.03);
    m.observeRequest(undefined, 404, undefined);
    assert.equal(await value(m, 'verge_requests_total', { ...SHOP, route: '/cart/...', status_class: '2xx' }), 2);
    assert.equal(await value(m, 'verge_requests_total', { ...SHOP, route: '/cart/...', status_class: '5xx' }), 1);
    assert.equal(await value(m, 'verge_requests_total', { app: '-', route: '-', component: '-', version: '-', status_class: '4xx' }), 1);
    assert.equal(await value(m, 'verge_request_duration_seconds', { ...SHOP, route: '/cart/...' }, '_count'), 3);
    assert.ok(Math.abs((await value(m, 'verge_request_duration_seconds', { ...SHOP, route: '/cart/...' }, '_sum'))! - 0.06) < 1e-9);
    const text = await m.registry.metrics();
    assert.doesNotMatch(text, /verge_request_duration_seconds_count\{app="-"/, 'no latency for requests no route matched');
  });

  test("the worker's measures become queue wait, instantiation, guest memory and host-call observations", async () => {
    const m = metrics();
    const kvGet = hostCallCode('kv', 'OK');
    const kvMiss = hostCallCode('kv', 'NOT_FOUND');
    m.observeRequest(route('/cart'), 200, 0.01, 1000, { ...measured(), hostCalls: new Float64Array([kvGet, 0.00002, kvMiss, 0.00001, kvGet, 0.00003]) });
    m.observeRequest(route('/cart'), 200, 0.01, 1000, measured({ instantiateMs: 2, prepared: true, memoryBytes: -1 }));
    m.observeRequest(route('/cart'), 200, 0.01, 1000, measured({ instantiateMs: -1 }));
    assert.equal(await value(m, 'verge_queue_wait_seconds', SHOP, '_count'), 3);
    assert.ok(Math.abs((await value(m, 'verge_queue_wait_seconds', SHOP, '_sum'))! - 0.0075) < 1e-9, '2.5 ms each');
    assert.equal(await value(m, 'verge_instantiation_seconds', { ...SHOP, instance: 'fresh' }, '_count'), 1, 'a reused instance made none');
    assert.equal(await value(m, 'verge_instantiation_seconds', { ...SHOP, instance: 'prepared' }, '_sum'), 0.002);
    assert.equal(await value(m, 'verge_guest_memory_bytes', SHOP, '_count'), 2, 'a guest without memory is not observed');
    assert.equal(await value(m, 'verge_guest_memory_bytes', { ...SHOP, le: '131072' }, '_bucket'), 2);
    assert.equal(await value(m, 'verge_host_call_duration_seconds', { ...SHOP, capability: 'kv', outcome: 'ok' }, '_count'), 2);
    assert.equal(await value(m, 'verge_host_call_duration_seconds', { ...SHOP, capability: 'kv', outcome: 'not_found' }, '_count'), 1);
  });

  test('a request that gave up waiting for a worker is observed in queue wait with the time it waited', async () => {
    const m = metrics();
    const admittedAt = performance.timeOrigin + performance.now() - 250;
    m.observeRequest(route('/cart'), 503, 0.25, admittedAt, undefined, true);
    m.observeRequest(route('/cart'), 413, 0.001, NaN, undefined, false);
    assert.equal(await value(m, 'verge_queue_wait_seconds', SHOP, '_count'), 1, 'one never admitted is not observed');
    const sum = (await value(m, 'verge_queue_wait_seconds', SHOP, '_sum'))!;
    assert.ok(sum >= 0.25 && sum < 1, `waited ${sum} s`);
  });

  test('host calls timed on the main thread land in the same series as those the worker timed', async () => {
    const m = metrics();
    m.observeRequest(route('/cart'), 200, 0.01, 1000, { ...measured(), hostCalls: new Float64Array([hostCallCode('outbound-http', 'TIMEOUT'), 2]) });
    m.observeHostCall('shop@3f2a9c01d4e5#1', 'web', 'outbound-http', 'TIMEOUT', 3);
    m.observeHostCall('shop@3f2a9c01d4e5#1', 'web', 'not-a-capability', 'OK', 3);
    assert.equal(await value(m, 'verge_host_call_duration_seconds', { ...SHOP, capability: 'outbound-http', outcome: 'timeout' }, '_sum'), 5);
    assert.doesNotMatch(await m.registry.metrics(), /not-a-capability/);
  });

  test('label children are looked up once per route, not per request', () => {
    const m = metrics();
    let lookups = 0;
    for (const metric of [m.requests, m.duration, m.queueWait, m.instantiation, m.guestMemory, m.hostCalls] as Array<{ labels: (...a: never[]) => unknown }>) {
      const labels = metric.labels.bind(metric);
      metric.labels = ((...a: never[]) => (lookups++, labels(...a))) as typeof metric.labels;
    }
    const r = route('/cart');
    const calls = new Float64Array([hostCallCode('variables', 'OK'), 0.000001]);
    for (let i = 0; i < 100; i++) m.observeRequest(r, 200, 0.01, 1000, { ...measured(), hostCalls: calls });
    assert.equal(lookups, 6);
  });

  test('a KV breaker is exported as a state gauge: the worst of its breakers, 0 again once they close, and a replaced worker\'s breakers forgotten', async () => {
    const m = metrics();
    const state = async (app: string) => value(m, 'verge_kv_breaker_state', { app, store: 'default', side: 'write' });
    m.observeBreaker(11, 'shop', 'default', 'write', 'open');
    m.observeBreaker(12, 'shop', 'default', 'write', 'half-open');
    m.observeBreaker('main', 'blog', 'default', 'write', 'closed');
    assert.deepEqual([await state('shop'), await state('blog')], [2, 0], 'two apps with a store named default are told apart');
    m.forgetBreakers(11);
    assert.equal(await state('shop'), 1);
    m.observeBreaker(12, 'shop', 'default', 'write', 'closed');
    assert.equal(await state('shop'), 0);
    m.forgetBreakers(12);
    assert.equal(await state('shop'), 0, 'still listed, as closed');
    assert.equal(await value(m, 'verge_kv_breaker_transitions_total', { app: 'shop', store: 'default', side: 'write', state: 'open' }), 1);
  });

  test("an unloaded version's series go once the grace time has passed, unless the same version serves again", async () => {
    const m = metrics(20);
    m.observeRequest(route('/a', 'shop@aaaaaaaaaaaa#1'), 200, 0.01, 1000, measured());
    m.observeRequest(route('/b', 'shop@bbbbbbbbbbbb#2'), 200, 0.01, 1000, measured());
    // The same content installed again (a rollback): a new key, the same labels.
    m.observeRequest(route('/b', 'shop@bbbbbbbbbbbb#3'), 200, 0.01, 1000, measured());
    m.forgetVersion('shop@aaaaaaaaaaaa#1');
    m.forgetVersion('shop@bbbbbbbbbbbb#2');
    assert.match(await m.registry.metrics(), /version="aaaaaaaaaaaa"/, 'kept until the grace time has passed');
    const deadline = Date.now() + 2000;
    while (/version="aaaaaaaaaaaa"/.test(await m.registry.metrics())) {
      assert.ok(Date.now() < deadline, 'the unloaded version is still exported after 2 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const text = await m.registry.metrics();
    assert.match(text, /verge_requests_total\{app="shop",route="\/b",component="web",version="bbbbbbbbbbbb",status_class="2xx"\} 2/, 'still served by #3');
    assert.match(text, /verge_queue_depth 0/);
  });
});

test('docs/observability.md lists every series with its labels, and none that does not exist', async () => {
  const doc = readFileSync(new URL('../../../docs/observability.md', import.meta.url), 'utf8');
  const documented = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    const row = /^\| `(verge_[a-z_]+)` \|[^|]*\|([^|]*)\|/.exec(line);
    if (row) documented.set(row[1]!, row[2]!.trim() === '' ? [] : row[2]!.split(',').map((l) => l.trim().replaceAll('`', '')));
  }
  const m = metrics();
  const exported = new Map(
    m.registry
      .getMetricsAsArray()
      .filter((metric) => !metric.name.startsWith('verge_process_'))
      .map((metric) => [metric.name, [...((metric as unknown as { labelNames: string[] }).labelNames ?? [])]]),
  );
  assert.deepEqual([...documented.keys()].sort(), [...exported.keys()].sort());
  for (const [name, labels] of exported) assert.deepEqual(documented.get(name), labels, name);
});
