/**
 * The dashboard's Server-Sent Events reader (web/sse.ts), run in Node: it has no DOM. It is
 * compiled with the browser scripts, so it is loaded from there at run time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';

interface SseEvent {
  type: string;
  data: string;
  lastEventId: string | undefined;
}
interface SseParser {
  lastEventId: string | undefined;
  push(text: string): void;
}
const { SseParser } = (await import(new URL('./web/sse.js', import.meta.url).href)) as { SseParser: new (onEvent: (e: SseEvent) => void) => SseParser };

function parse(chunks: string[]): { events: SseEvent[]; parser: SseParser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const c of chunks) parser.push(c);
  return { events, parser };
}

test('reads the events GET /v1/logs?follow=1 sends: comments skipped, ids kept, a named event told apart', () => {
  const { events, parser } = parse([': verge logs\n\n', 'id: 7\ndata: {"msg":"a"}\n\n', 'event: dropped\ndata: {"dropped": 3}\n\n', ': keep-alive\n\n', 'id: 9\ndata: {"msg":"b"}\n\n']);
  assert.deepEqual(events, [
    { type: 'message', data: '{"msg":"a"}', lastEventId: '7' },
    { type: 'dropped', data: '{"dropped": 3}', lastEventId: '7' },
    { type: 'message', data: '{"msg":"b"}', lastEventId: '9' },
  ]);
  assert.equal(parser.lastEventId, '9', 'where a reconnect resumes');
});

test('an event split anywhere across chunks, even inside a CRLF, reads the same', () => {
  const text = 'id: 1\r\ndata: first\r\ndata: second\r\n\r\nid: 2\rdata: third\r\r\n';
  const whole = parse([text]).events;
  assert.deepEqual(whole, [
    { type: 'message', data: 'first\nsecond', lastEventId: '1' },
    { type: 'message', data: 'third', lastEventId: '2' },
  ]);
  for (let cut = 1; cut < text.length; cut++) assert.deepEqual(parse([text.slice(0, cut), text.slice(cut)]).events, whole, `cut at ${cut}`);
  assert.deepEqual(parse([...text]).events, whole, 'a character at a time');
});

test('nothing is dispatched before its blank line, and a field without a colon or a data line without a space counts', () => {
  const { events, parser } = parse(['data:no-space\n', 'data\n']);
  assert.deepEqual(events, []);
  parser.push('\n');
  assert.deepEqual(events, [{ type: 'message', data: 'no-space\n', lastEventId: undefined }]);
});
