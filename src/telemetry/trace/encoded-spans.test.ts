import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SpanRecord } from '../../dispatch/protocol.js';
import { decodeSpans, encodeRecords, prependSpan } from './encoded-spans.js';
import type { SpanShape } from './export.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const server: SpanShape = { traceId: TRACE, id: '00f067aa0ba902b7', parent: { id: 'b7ad6b7169203331', remote: true }, name: 'GET /x', kind: 'server', start: 1764520000123.4567, end: 1764520000125.1, attributes: { 'http.response.status_code': 200, 'verge.request_id': 'r1' }, error: undefined, events: undefined };

test('the server span goes in front of the worker’s spans, and every field comes back as it was, whatever a guest wrote', () => {
  const tricky = 'a "quoted" ], {line}\n\u2028 ünïcode \ud83d\ude00 \\';
  const records: SpanRecord[] = [
    { id: '1111111111111111', parent: server.id, name: 'queue wait', kind: 'internal', start: 1764520000123.5, end: 1764520000123.75, attributes: {} },
    { id: '2222222222222222', parent: server.id, name: 'execute', kind: 'internal', start: 1764520000124, end: 1764520000125, attributes: { ok: true, n: 3 }, error: 'GUEST_TRAP', events: [{ name: 'log', time: 1764520000124.5, attributes: { 'log.message': tricky } }] },
    { id: '3333333333333333', parent: '2222222222222222', name: tricky, kind: 'client', start: 1764520000124.25, end: 1764520000124.5, attributes: { 'url.full': tricky } },
  ];
  const all = prependSpan(server, encodeRecords(TRACE, records));
  assert.equal(all.count, 4);
  const spans = decodeSpans(all);
  assert.deepEqual([spans[0]!.id, spans[0]!.parent, spans[0]!.start, spans[0]!.end, spans[0]!.attributes, spans[0]!.error], [server.id, server.parent, server.start, server.end, server.attributes, undefined]);
  assert.deepEqual(
    spans.slice(1).map((s) => [s.traceId, s.id, s.parent, s.name, s.kind, s.start, s.end, s.attributes, s.error, s.events]),
    records.map((r) => [TRACE, r.id, { id: r.parent, remote: false }, r.name, r.kind, r.start, r.end, r.attributes, r.error, r.events]),
  );
});

test('a request whose worker sent no spans is its server span alone', () => {
  for (const worker of [undefined, encodeRecords(TRACE, [])]) {
    const all = prependSpan(server, worker);
    assert.equal(all.count, 1);
    assert.deepEqual(decodeSpans(all).map((s) => s.id), [server.id]);
  }
});
