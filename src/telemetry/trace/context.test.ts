import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTraceparent, newSpanId, newTraceId, parseTraceparent } from './context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

test('a valid traceparent names its trace, parent span and sampled flag', () => {
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-01`), { traceId: TRACE, spanId: SPAN, sampled: true });
  assert.deepEqual(parseTraceparent(`00-${TRACE}-${SPAN}-00`), { traceId: TRACE, spanId: SPAN, sampled: false });
  // Other flag bits do not make it unsampled.
  assert.equal(parseTraceparent(`00-${TRACE}-${SPAN}-03`)?.sampled, true);
});

test('a malformed, all-zero, version ff or repeated traceparent is ignored', () => {
  for (const bad of [
    'garbage',
    `00-${TRACE.toUpperCase()}-${SPAN}-01`,
    `00-${'0'.repeat(32)}-${SPAN}-01`,
    `00-${TRACE}-${'0'.repeat(16)}-01`,
    `ff-${TRACE}-${SPAN}-01`,
    `00-${TRACE}-${SPAN}-01-extra`,
  ]) {
    assert.equal(parseTraceparent(bad), undefined, bad);
  }
  assert.equal(parseTraceparent([`00-${TRACE}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01`]), undefined);
  assert.equal(parseTraceparent(undefined), undefined);
});

test('a later version is read by its version 00 fields', () => {
  assert.deepEqual(parseTraceparent(`01-${TRACE}-${SPAN}-01-more`), { traceId: TRACE, spanId: SPAN, sampled: true });
});

test('a written traceparent reads back the same', () => {
  const traceId = newTraceId();
  const spanId = newSpanId();
  assert.match(traceId, /^[0-9a-f]{32}$/);
  assert.match(spanId, /^[0-9a-f]{16}$/);
  assert.deepEqual(parseTraceparent(formatTraceparent(traceId, spanId, false)), { traceId, spanId, sampled: false });
});

test('ids do not repeat across refills of the random pool', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) seen.add(newSpanId());
  assert.equal(seen.size, 2000);
});
