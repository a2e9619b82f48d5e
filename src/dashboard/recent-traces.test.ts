import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { SpanShape } from '../telemetry/tracing.js';
import { encodeSpans } from '../telemetry/trace/encoded-spans.js';
import { RECENT_TRACES_DEFAULTS, RecentTraces, traceJson } from './recent-traces.js';

const T0 = 1_700_000_000_000;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function span(id: string, parent: string | undefined, name: string, start: number, end: number, over: Partial<SpanShape> = {}): SpanShape {
  return { traceId: TRACE, id, parent: parent === undefined ? undefined : { id: parent, remote: false }, name, kind: 'internal', start: T0 + start, end: T0 + end, attributes: {}, error: undefined, events: undefined, ...over };
}

/** A request's spans as the tracer hands them over: the server span, then the worker's in the order it made them. */
function requestSpans(): SpanShape[] {
  return [
    span('s', undefined, 'GET /count', 0, 10, { kind: 'server', attributes: { 'verge.request_id': 'r1' } }),
    span('q', 's', 'queue wait', 0.5, 1),
    span('i', 's', 'instantiate', 1, 2),
    span('e', 's', 'execute', 2, 9, { events: [{ name: 'log', time: T0 + 6, attributes: { 'log.severity': 'info', 'log.message': 'hi' } }] }),
    span('o', 'e', 'GET', 5, 8, { kind: 'client', error: 'HTTP 503', attributes: { 'http.request.method': 'GET', 'server.address': 'api.example' } }),
    span('k', 'e', 'kv.increment', 3, 4, { attributes: { 'verge.kv.store': 'default', 'verge.kv.op': 'increment', 'verge.kv.key_size': 4, 'verge.outcome': 'OK' } }),
  ];
}

describe('recent traces', () => {
  test('finds a trace by its request id, and forgets the oldest past the capacity', () => {
    const traces = new RecentTraces({ capacity: 3 });
    for (let i = 1; i <= 5; i++) traces.add(`r${i}`, encodeSpans(requestSpans()));
    assert.equal(traces.size, 3);
    assert.equal(traces.find('r2'), undefined);
    assert.equal(traces.find('r3')?.spans.length, 6);
    assert.equal(traces.find('r5')?.requestId, 'r5');
    assert.deepEqual([traces.wasEvicted('r1'), traces.wasEvicted('r2'), traces.wasEvicted('r3'), traces.wasEvicted('never')], [true, true, false, false]);
  });

  test('keeps as many traces as the recent requests by default', () => {
    assert.equal(RECENT_TRACES_DEFAULTS.capacity, 500);
  });

  test('keeps at most maxSpans spans of one trace and counts the others', () => {
    const traces = new RecentTraces({ maxSpans: 4 });
    const many = [...requestSpans(), ...Array.from({ length: 100 }, (_, i) => span(`kv${i}`, 'e', 'kv.get', 3, 3.1))];
    traces.add('r1', encodeSpans(many));
    const kept = traces.find('r1')!;
    assert.deepEqual(kept.spans.map((s) => s.id), ['s', 'q', 'i', 'e']);
    assert.equal(kept.droppedSpans, 102);
    assert.equal(traceJson(kept).dropped_spans, 102);
  });

  test('stays within its byte budget: traces full of long log events push the oldest out, the newest always stays', () => {
    const line = 'x'.repeat(4096);
    const heavy = () => [span('s', undefined, 'GET /', 0, 1, { kind: 'server', events: Array.from({ length: 128 }, () => ({ name: 'log', time: T0, attributes: { 'log.message': line } })) })];
    const traces = new RecentTraces({ maxBytes: 8 * 1024 * 1024 });
    for (let i = 1; i <= 20; i++) traces.add(`r${i}`, encodeSpans(heavy()));
    assert.ok(traces.estimatedBytes <= 8 * 1024 * 1024, `${traces.estimatedBytes} bytes kept`);
    assert.ok(traces.size >= 3 && traces.size < 20, `${traces.size} traces kept`);
    assert.ok(traces.find('r20'));
    assert.equal(traces.find('r1'), undefined);
    assert.equal(traces.wasEvicted('r1'), true, 'pushed out by size, it says so');
    const tiny = new RecentTraces({ maxBytes: 10 });
    tiny.add('a', encodeSpans(heavy()));
    tiny.add('b', encodeSpans(heavy()));
    assert.deepEqual([tiny.size, tiny.find('b')?.requestId], [1, 'b']);
  });

  test('remembers only the last `capacity` ids it pushed out', () => {
    const traces = new RecentTraces({ capacity: 2 });
    for (let i = 1; i <= 10; i++) traces.add(`r${i}`, encodeSpans(requestSpans()));
    assert.deepEqual(
      Array.from({ length: 10 }, (_, i) => traces.wasEvicted(`r${i + 1}`)),
      [false, false, false, false, false, false, true, true, false, false],
    );
  });

  test('the same request id recorded again replaces its trace and its share of the budget', () => {
    const traces = new RecentTraces();
    traces.add('r1', encodeSpans(requestSpans()));
    const once = traces.estimatedBytes;
    traces.add('r1', encodeSpans(requestSpans()));
    assert.deepEqual([traces.size, traces.estimatedBytes], [1, once]);
  });

  test('refuses limits below one', () => {
    assert.throws(() => new RecentTraces({ capacity: 0 }), RangeError);
    assert.throws(() => new RecentTraces({ maxSpans: 1.5 }), RangeError);
  });
});

describe('a trace as the API answers it', () => {
  test('orders spans depth first from the server span, siblings by start, with times from the server span’s start', () => {
    const traces = new RecentTraces();
    traces.add('r1', encodeSpans(requestSpans()));
    const json = traceJson(traces.find('r1')!);
    assert.equal(json.request_id, 'r1');
    assert.equal(json.trace_id, TRACE);
    assert.equal(json.start, new Date(T0).toISOString());
    assert.equal(json.duration_ms, 10);
    assert.deepEqual(
      json.spans.map((s) => [s.name, s.depth, s.start_ms, s.duration_ms]),
      [
        ['GET /count', 0, 0, 10],
        ['queue wait', 1, 0.5, 0.5],
        ['instantiate', 1, 1, 1],
        ['execute', 1, 2, 7],
        ['kv.increment', 2, 3, 1],
        ['GET', 2, 5, 3],
      ],
    );
    const execute = json.spans.find((s) => s.name === 'execute')!;
    assert.deepEqual(execute.events, [{ name: 'log', at_ms: 6, attributes: { 'log.severity': 'info', 'log.message': 'hi' } }]);
    const client = json.spans.find((s) => s.kind === 'client')!;
    assert.deepEqual([client.error, client.parent_id, client.attributes['server.address']], ['HTTP 503', 'e', 'api.example']);
    assert.equal(json.spans[0]!.error, null);
  });

  test('a server span continuing a caller’s trace is still the root, and a span whose parent was cut follows the tree', () => {
    const spans = requestSpans();
    spans[0] = { ...spans[0]!, parent: { id: '00f067aa0ba902b7', remote: true } };
    spans.push(span('lost', 'cut-off', 'kv.get', 4, 5));
    const json = traceJson({ requestId: 'r1', spans, droppedSpans: 0, bytes: 0 });
    assert.deepEqual([json.spans[0]!.name, json.spans[0]!.depth, json.spans[0]!.parent_id], ['GET /count', 0, '00f067aa0ba902b7']);
    assert.deepEqual([json.spans.at(-1)!.id, json.spans.at(-1)!.depth], ['lost', 0]);
    assert.equal(json.spans.length, spans.length);
  });

  test('spans whose parents form a loop are still listed, once each', () => {
    const json = traceJson({ requestId: 'r1', spans: [span('a', 'b', 'a', 0, 1), span('b', 'a', 'b', 0, 1)], droppedSpans: 0, bytes: 0 });
    assert.deepEqual(json.spans.map((s) => s.id).sort(), ['a', 'b']);
  });
});
