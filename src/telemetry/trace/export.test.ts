import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createResource, hrTime, readableSpan, SpanQueue, type DropReason } from './export.js';
import { BATCH_DEFAULTS, type BatchConfig } from './config.js';

/** An exporter whose answers the test decides: each export waits in `calls` until the test answers it. */
function scriptedExporter() {
  const calls: Array<{ spans: ReadableSpan[]; answer: (r: ExportResult) => void }> = [];
  const exporter: SpanExporter = {
    export: (spans, answer) => void calls.push({ spans, answer }),
    shutdown: async () => undefined,
  };
  return { exporter, calls };
}

const resource = createResource('0.0.0-test');
const span = (n: number): ReadableSpan =>
  readableSpan(
    { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', id: n.toString(16).padStart(16, '0'), parent: undefined, name: `s${n}`, kind: 'internal', start: 1000, end: 1001, attributes: {}, error: undefined, events: undefined },
    resource,
    { name: 'verge', version: 'test' },
  );

function queueWith(batch: Partial<BatchConfig>) {
  const { exporter, calls } = scriptedExporter();
  const dropped: Array<[number, DropReason]> = [];
  const failures: string[] = [];
  const queue = new SpanQueue(exporter, { ...BATCH_DEFAULTS, scheduledDelayMs: 10, ...batch }, { dropped: (n, r) => void dropped.push([n, r]), failed: (r) => void failures.push(r) });
  return { queue, calls, dropped, failures };
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));

/** Polls until `check` holds, for at most `ms`. */
async function until(check: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms`);
    await tick(5);
  }
}

test('a full batch is exported at once, and a partial one after the schedule delay', async () => {
  const { queue, calls } = queueWith({ maxExportBatchSize: 2, scheduledDelayMs: 50 });
  queue.add(span(1));
  queue.add(span(2));
  assert.equal(calls.length, 1);
  assert.deepEqual(calls[0]!.spans.map((s) => s.name), ['s1', 's2']);
  calls[0]!.answer({ code: ExportResultCode.SUCCESS });
  queue.add(span(3));
  await tick(5);
  assert.equal(calls.length, 1, 'one span waits for the delay');
  await until(() => calls.length === 2);
  assert.deepEqual(calls[1]?.spans.map((s) => s.name), ['s3']);
});

test('while an export is in flight a full queue drops new spans and counts them as queue_full', async () => {
  const { queue, calls, dropped } = queueWith({ maxQueueSize: 2, maxExportBatchSize: 2 });
  queue.add(span(1));
  queue.add(span(2));
  assert.equal(calls.length, 1, 'the first batch is out and not answered');
  queue.add(span(3));
  queue.add(span(4));
  queue.add(span(5));
  assert.deepEqual(dropped, [[1, 'queue_full']]);
  assert.equal(queue.length, 2);
});

test('a failed export counts its batch as export_failed and reports why', async () => {
  const { queue, calls, dropped, failures } = queueWith({ maxExportBatchSize: 3 });
  for (let i = 0; i < 3; i++) queue.add(span(i));
  calls[0]!.answer({ code: ExportResultCode.FAILED, error: new Error('connect ECONNREFUSED') });
  await tick();
  assert.deepEqual(dropped, [[3, 'export_failed']]);
  assert.deepEqual(failures, ['connect ECONNREFUSED']);
});

test('an export that never answers times out, counts as dropped, and the next batch still goes out', async () => {
  const { queue, calls, dropped, failures } = queueWith({ maxExportBatchSize: 1, exportTimeoutMs: 30 });
  queue.add(span(1));
  queue.add(span(2));
  assert.equal(calls.length, 1);
  await until(() => calls.length === 2);
  assert.deepEqual(dropped, [[1, 'export_failed']]);
  assert.match(failures[0]!, /no answer within 30 ms/);
  assert.equal(calls.length, 2, 'the queued span went out after the timeout');
});

test('flush exports what is queued and gives up on the rest after its bound', async () => {
  const { queue, calls, dropped } = queueWith({ maxExportBatchSize: 2, scheduledDelayMs: 60_000 });
  queue.add(span(1));
  const flushed = queue.flush(50);
  await tick();
  assert.equal(calls.length, 1, 'flush does not wait for the schedule delay');
  // Never answered: flush still returns within its bound.
  const t = Date.now();
  await flushed;
  assert.ok(Date.now() - t < 1000);
  assert.deepEqual(dropped, []);
});

test('a span becomes an SDK ReadableSpan with its parent, kind, status, events and times', () => {
  const s = readableSpan(
    {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      id: '00f067aa0ba902b7',
      parent: { id: '1111111111111111', remote: true },
      name: 'GET /x',
      kind: 'server',
      start: 1_700_000_000_123.5,
      end: 1_700_000_000_125.75,
      attributes: { 'http.response.status_code': 503 },
      error: 'QUEUE_FULL',
      events: [{ name: 'log', time: 1_700_000_000_124, attributes: { 'log.message': 'hi' } }],
    },
    resource,
    { name: 'verge', version: 'test' },
  );
  assert.equal(s.kind, SpanKind.SERVER);
  assert.equal(s.spanContext().spanId, '00f067aa0ba902b7');
  assert.deepEqual(s.parentSpanContext && [s.parentSpanContext.spanId, s.parentSpanContext.isRemote], ['1111111111111111', true]);
  assert.deepEqual(s.status, { code: SpanStatusCode.ERROR, message: 'QUEUE_FULL' });
  assert.deepEqual(s.startTime, [1_700_000_000, 123_500_000]);
  assert.deepEqual(s.duration, [0, 2_250_000]);
  assert.deepEqual(s.events[0]?.time, [1_700_000_000, 124_000_000]);
});

test('hrTime never carries a billion nanoseconds', () => {
  const [, nanos] = hrTime(1999.9999999999);
  assert.ok(nanos < 1e9);
});
