import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { isVergeError } from '../errors.js';
import type { AnsweredRequest } from '../ingress/server.js';
import type { AppRegistry } from '../node/registry.js';
import type { SamplerConfig, SpanShape } from '../telemetry/tracing.js';
import { encodeSpans } from '../telemetry/trace/encoded-spans.js';
import { createDashboardApi, type DashboardDeps } from './api.js';
import { RecentRequests } from './recent-requests.js';
import { RecentTraces, type TraceJson } from './recent-traces.js';
import { RouteStats } from './route-stats.js';

function answered(id: string): AnsweredRequest {
  return { id, at: 1_700_000_000_000, method: 'GET', path: '/x', route: '/x', app: 'shop', component: 'web', version: 'abcdef012345', status: 200, durationMs: 1, error: undefined };
}

const serverSpan = (id: string): SpanShape => ({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', id: '00f067aa0ba902b7', parent: undefined, name: 'GET /x', kind: 'server', start: 1000, end: 1002, attributes: { 'verge.request_id': id }, error: undefined, events: undefined });

/** The trace route over a node that answered `requests`, of which `traced` were sampled (tracing off when `sampler` is undefined). */
function traceRoute(requests: string[], traced: string[], sampler: SamplerConfig | undefined, traces = new RecentTraces()) {
  const recent = new RecentRequests();
  for (const id of requests) {
    if (traced.includes(id)) traces.add(id, encodeSpans([serverSpan(id)]));
    recent.add(answered(id));
  }
  const deps: DashboardDeps = {
    // The trace route reads no app.
    registry: {} as AppRegistry,
    recent,
    stats: new RouteStats(),
    pool: () => ({ workers: 1, busy: 0, queued: 0, restarts: 0 }),
    traces: sampler && { store: traces, sampler },
    kvWrites: false,
    audit: () => {},
  };
  const route = createDashboardApi(deps);
  return (id: string) => route({ method: 'GET', parts: ['requests', encodeURIComponent(id), 'trace'], query: new URLSearchParams(), who: 'local', body: async () => Buffer.alloc(0) });
}

/** The refusal of a call; a route refuses by throwing at once, as the admin API expects, or by rejecting. */
async function refusal(call: () => Promise<unknown> | undefined): Promise<{ code: string; message: string }> {
  try {
    await call();
  } catch (err) {
    if (isVergeError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  assert.fail('expected a refusal');
}

const DEFAULT: SamplerConfig = { sampler: 'parentbased_always_on', ratio: 1 };

describe('GET /v1/requests/ID/trace', () => {
  test('answers a kept trace in waterfall form', async () => {
    const trace = (await traceRoute(['r1'], ['r1'], DEFAULT)('r1')) as TraceJson;
    assert.deepEqual([trace.request_id, trace.spans.map((s) => s.name), trace.duration_ms], ['r1', ['GET /x'], 2]);
  });

  test('an id the node does not list answers REQUEST_NOT_FOUND, whether tracing is on or off', async () => {
    for (const sampler of [DEFAULT, undefined]) {
      assert.equal((await refusal(() => traceRoute(['r1'], ['r1'], sampler)('r9'))).code, 'REQUEST_NOT_FOUND');
    }
  });

  test('a listed request without a trace answers TRACE_NOT_FOUND saying why: tracing off, not sampled by which sampler, or pushed out', async () => {
    assert.deepEqual(await refusal(() => traceRoute(['r1'], [], undefined)('r1')), { code: 'TRACE_NOT_FOUND', message: 'request "r1" has no trace: tracing is off on this node (OTEL_SDK_DISABLED=true)' });
    assert.match((await refusal(() => traceRoute(['r1'], [], DEFAULT)('r1'))).message, /not sampled, because its caller sent a traceparent marked unsampled, which the sampler \(OTEL_TRACES_SAMPLER=parentbased_always_on\) follows$/);
    assert.match(
      (await refusal(() => traceRoute(['r1'], [], { sampler: 'parentbased_traceidratio', ratio: 0.07 })('r1'))).message,
      /not sampled, because the sampler \(OTEL_TRACES_SAMPLER=parentbased_traceidratio\) keeps 7 % of new traces, or its caller sent a traceparent marked unsampled$/,
    );
    assert.match((await refusal(() => traceRoute(['r1'], [], { sampler: 'always_off', ratio: 1 })('r1'))).message, /because the sampler \(OTEL_TRACES_SAMPLER=always_off\) keeps no new trace$/);
    // Traces full of log lines can leave the store before their requests leave the list.
    const small = new RecentTraces({ capacity: 2 });
    const evicted = await refusal(() => traceRoute(['r1', 'r2', 'r3'], ['r1', 'r2', 'r3'], DEFAULT, small)('r1'));
    assert.deepEqual([evicted.code, /is no longer kept: the node keeps the last 2 traces/.test(evicted.message)], ['TRACE_NOT_FOUND', true]);
  });
});
