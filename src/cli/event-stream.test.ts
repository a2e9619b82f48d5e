import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createEventStreamParser, type StreamEvent } from './event-stream.js';

function parseInChunks(text: string, size: number): StreamEvent[] {
  const events: StreamEvent[] = [];
  const parser = createEventStreamParser((e) => events.push(e));
  for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
  return events;
}

const STREAM = ': verge logs\n\nid: 1\ndata: {"msg":"a"}\n\nevent: dropped\r\ndata: {"dropped": 3}\r\n\r\nid: 2\ndata: line one\ndata:line two\n\n: keep-alive\n\ndata: unfinished';

describe('event-stream parser', () => {
  test('reads events, their type, id and data, however the stream is cut into chunks', () => {
    const expected: StreamEvent[] = [
      { type: 'message', data: '{"msg":"a"}', id: '1' },
      { type: 'dropped', data: '{"dropped": 3}', id: '1' },
      { type: 'message', data: 'line one\nline two', id: '2' },
    ];
    for (const size of [1, 2, 3, 7, STREAM.length]) assert.deepEqual(parseInChunks(STREAM, size), expected, `chunks of ${size}`);
  });

  test('a carriage return at the end of a chunk waits for a possible line feed', () => {
    const events: StreamEvent[] = [];
    const parser = createEventStreamParser((e) => events.push(e));
    parser.push('data: x\r');
    parser.push('\n\r');
    parser.push('\n');
    assert.deepEqual(events, [{ type: 'message', data: 'x', id: undefined }]);
  });
});
