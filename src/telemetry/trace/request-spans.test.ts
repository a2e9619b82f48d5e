import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_SPANS, RequestSpans } from './request-spans.js';

test('a request records at most MAX_SPANS spans, and its execute span counts the host calls past them', () => {
  const spans = new RequestSpans({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', serverSpanId: '00f067aa0ba902b7', spanId: '00f067aa0ba902b8', sampled: true, tracestate: undefined, admittedAt: 0 });
  const execute = spans.startGuest();
  let recorded = 0;
  for (let i = 0; i < MAX_SPANS + 10; i++) {
    const span = spans.start('kv.get');
    if (span) {
      recorded++;
      spans.end(span);
    }
  }
  spans.end(execute);
  const records = spans.finish();
  assert.equal(records.length, MAX_SPANS);
  assert.equal(recorded, MAX_SPANS - 1);
  assert.equal(execute.attributes['verge.dropped_spans'], 11);
});
