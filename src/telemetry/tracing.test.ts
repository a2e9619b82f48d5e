import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { createTracing, traceConfigFromEnv, type SpanShape } from './tracing.js';
import type { SpanRecord } from '../dispatch/protocol.js';
import { decodeSpans, encodeRecords } from './trace/encoded-spans.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
// These tests read what reaches onTrace; export-client.test.ts follows spans to a collector.
const ENV = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };

async function tracingWith(env: Record<string, string>) {
  const traces: Array<[string, readonly SpanShape[]]> = [];
  const tracing = (await createTracing(traceConfigFromEnv({ ...ENV, ...env }), { logger: pino({ level: 'silent' }), onTrace: (id, spans) => void traces.push([id, decodeSpans(spans)]) }))!;
  return { tracing, traces };
}

const server = (requestId: string) => ({ name: 'GET /x', attributes: { 'verge.request_id': requestId }, error: undefined });

test('no endpoint means no tracing at all', async () => {
  assert.equal(await createTracing(traceConfigFromEnv({}), { logger: pino({ level: 'silent' }) }), undefined);
});

test('an inbound sampled traceparent is continued: same trace, the server span under the caller, worker spans under theirs', async () => {
  const { tracing, traces } = await tracingWith({});
  const t = tracing.begin(`00-${TRACE}-${PARENT}-01`, 'vendor=1');
  assert.deepEqual([t.context.traceId, t.context.sampled, t.context.tracestate], [TRACE, true, 'vendor=1']);
  assert.notEqual(t.context.spanId, t.context.serverSpanId);
  const worker: SpanRecord[] = [{ id: t.context.spanId, parent: t.context.serverSpanId, name: 'execute', kind: 'internal', start: t.start, end: t.start + 1, attributes: {} }];
  tracing.end(t, server('r1'), encodeRecords(t.context.traceId, worker));
  const [[id, spans]] = traces as [[string, readonly SpanShape[]]];
  assert.equal(id, 'r1');
  assert.deepEqual(
    spans.map((s) => [s.name, s.traceId, s.id, s.parent]),
    [
      ['GET /x', TRACE, t.context.serverSpanId, { id: PARENT, remote: true }],
      ['execute', TRACE, t.context.spanId, { id: t.context.serverSpanId, remote: false }],
    ],
  );
});

test('an unsampled caller is honoured by the default sampler: its context passes on and nothing is recorded', async () => {
  const { tracing, traces } = await tracingWith({});
  const t = tracing.begin(`00-${TRACE}-${PARENT}-00`, undefined);
  assert.deepEqual([t.context.traceId, t.context.spanId, t.context.sampled], [TRACE, PARENT, false]);
  tracing.end(t, server('r2'), undefined);
  assert.deepEqual(traces, []);
});

test('without a valid traceparent a new trace starts, and tracestate is not kept', async () => {
  const { tracing } = await tracingWith({});
  const t = tracing.begin('00-not-a-trace', 'vendor=1');
  assert.notEqual(t.context.traceId, TRACE);
  assert.match(t.context.traceId, /^[0-9a-f]{32}$/);
  assert.equal(t.context.tracestate, undefined);
  assert.equal(t.parent, undefined);
});

test('the ratio sampler at 0 records nothing, even under a sampled caller', async () => {
  const { tracing, traces } = await tracingWith({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' });
  const t = tracing.begin(`00-${TRACE}-${PARENT}-01`, undefined);
  assert.equal(t.context.sampled, false);
  tracing.end(t, server('r3'), undefined);
  assert.deepEqual(traces, []);
});

test('a sampler alone records sampled requests for onTrace, with the same decisions', async () => {
  const traces: Array<[string, readonly SpanShape[]]> = [];
  const tracing = (await createTracing({ sampler: 'parentbased_always_on', ratio: 1 }, { logger: pino({ level: 'silent' }), onTrace: (id, spans) => void traces.push([id, decodeSpans(spans)]) }))!;
  const sampled = tracing.begin(undefined, undefined);
  tracing.end(sampled, server('r4'), encodeRecords(sampled.context.traceId, []));
  const unsampled = tracing.begin(`00-${TRACE}-${PARENT}-00`, undefined);
  assert.equal(unsampled.context.sampled, false);
  tracing.end(unsampled, server('r5'), undefined);
  assert.deepEqual(
    traces.map(([id, spans]) => [id, spans.map((s) => s.kind)]),
    [['r4', ['server']]],
  );
});

test('the main thread loads no OTLP exporter, with or without an endpoint: the export thread does', () => {
  // A child process whose module loader refuses the OTLP exporters on its main thread.
  const hook = `export async function resolve(s, c, next) { if (s.includes('exporter-trace-otlp')) throw new Error('exporter loaded: ' + s); return next(s, c); }`;
  const script = `
    import { register } from 'node:module';
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
    const { createTracing, traceConfigFromEnv } = await import(${JSON.stringify(new URL('./tracing.js', import.meta.url).href)});
    const logger = { info() {}, warn() {} };
    const recording = await createTracing({ sampler: 'always_on', ratio: 1 }, { logger });
    const exporting = await createTracing(traceConfigFromEnv(${JSON.stringify(ENV)}), { logger }).then(() => 'not loaded', (err) => err.message);
    console.log(JSON.stringify({ recording: recording !== undefined, exporting }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const result = JSON.parse(out.trim().split('\n').at(-1)!) as { recording: boolean; exporting: string };
  assert.equal(result.recording, true);
  assert.equal(result.exporting, 'not loaded');
});
