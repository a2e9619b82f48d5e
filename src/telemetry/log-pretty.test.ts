import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { formatPretty } from './log-pretty.js';
import { LEVEL_VALUES, recordOf, type RecordLevel } from './log-record.js';

// Local time is printed: build the instant from local fields so the test holds in any zone.
const T = new Date(2026, 10, 30, 8, 14, 15, 7).getTime();
const line = (level: RecordLevel, fields: Record<string, unknown>, msg: string, color = false) => formatPretty(recordOf([fields, msg], LEVEL_VALUES[level], T, 1), { color });

describe('pretty log lines', () => {
  test('an access-log record reads as time, level, app/component, message, method, path, status, duration, other fields, request id', () => {
    const text = line('info', { request_id: '6f1c-77', app: 'shop', method: 'GET', path: '/cart?x=1', route: '/cart', component: 'web', version: '3f2a9c01d4e5', status: 200, duration_ms: 1.234 }, 'request');
    assert.equal(text, '08:14:15.007 INFO  shop/web request GET /cart?x=1 200 1.234ms route=/cart version=3f2a9c01d4e5 req=6f1c-77');
  });

  test("a guest's line is the message, with its stream when it is not a log call", () => {
    assert.equal(line('info', { request_id: 'r', app: 'a', component: 'c', stream: 'stderr', line: 'hello there' }, 'guest'), '08:14:15.007 INFO  a/c guest stderr: hello there req=r');
    assert.equal(line('warn', { request_id: 'r', component: 'c', stream: 'guest', line: 'careful' }, 'guest'), '08:14:15.007 WARN  c guest: careful req=r');
  });

  test('a node record without app or component has neither; strings with spaces or quotes are quoted, objects are JSON', () => {
    assert.equal(line('info', { apps: ['a', 'b'], url: 'http://127.0.0.1:3000', reason: 'it said "no"' }, 'serving'), '08:14:15.007 INFO  serving apps=["a","b"] url=http://127.0.0.1:3000 reason="it said \\"no\\""');
  });

  test('control characters a guest writes are escaped, so a line cannot drive the terminal', () => {
    const text = line('info', { component: 'c', line: 'red \u001b[31mtext\u0007 \u202e', stream: 'guest' }, 'guest');
    assert.ok(!/[\u0000-\u001f\u007f-\u009f\u202e]/.test(text), JSON.stringify(text));
    assert.match(text, /guest: red \\u001b\[31mtext\\u0007 \\u202e$/);
  });

  test('an error shows its type and message, then its stack indented on the lines below', () => {
    const err = new TypeError('bad thing');
    err.stack = 'TypeError: bad thing\n    at f (file.js:1:2)\n    at g (file.js:3:4)';
    assert.equal(line('error', { op: 'kv_get', err }, 'host call failed'), '08:14:15.007 ERROR host call failed op=kv_get err="TypeError: bad thing"\n    at f (file.js:1:2)\n    at g (file.js:3:4)');
  });

  test('colours only when asked: the level, a dim time and keys', () => {
    assert.ok(!line('warn', { a: 1 }, 'm').includes('\u001b['));
    const coloured = line('warn', { a: 1 }, 'm', true);
    assert.match(coloured, /\u001b\[33mWARN \u001b\[0m/);
    assert.match(coloured, /^\u001b\[2m08:14:15.007\u001b\[0m/);
  });
});
