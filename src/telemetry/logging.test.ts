import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger, defaultLogFormat } from './logging.js';
import { createLogRing } from './log-ring.js';

function capture(): { lines: string[]; output: { write(s: string): void } } {
  const lines: string[] = [];
  return { lines, output: { write: (s: string) => void lines.push(...s.split('\n').filter((l) => l !== '')) } };
}

describe('the node logger', () => {
  test('writes JSON lines as before and keeps each record in the ring, with its fields as logged', () => {
    const ring = createLogRing(10);
    const out = capture();
    const { logger } = createLogger('info', { ring, output: out.output });
    logger.info({ request_id: 'r1', app: 'shop', status: 200 }, 'request');
    assert.equal(out.lines.length, 1);
    const json = JSON.parse(out.lines[0]!) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json), ['level', 'time', 'request_id', 'app', 'status', 'msg']);
    assert.deepEqual({ ...json, time: undefined }, { level: 'info', time: undefined, request_id: 'r1', app: 'shop', status: 200, msg: 'request' });
    const [record] = ring.recent({}, 10);
    assert.deepEqual({ ...record!, time: 0 }, { seq: 1, time: 0, level: 'info', msg: 'request', fields: { request_id: 'r1', app: 'shop', status: 200 } });
  });

  test('records below the level are neither written nor kept', () => {
    const ring = createLogRing(10);
    const out = capture();
    const { logger } = createLogger('warn', { ring, output: out.output });
    logger.info({}, 'quiet');
    logger.debug({}, 'quieter');
    logger.warn({ reason: 'x' }, 'loud');
    assert.equal(out.lines.length, 1);
    assert.deepEqual(ring.recent({}, 10).map((r) => r.msg), ['loud']);
  });

  test('in pretty mode writes one readable line per record and no JSON, and still keeps the record', () => {
    const ring = createLogRing(10);
    const out = capture();
    const { logger } = createLogger('info', { format: 'pretty', ring, output: out.output });
    logger.warn({ app: 'shop', component: 'web', request_id: 'r9', status: 503 }, 'request failed');
    assert.equal(out.lines.length, 1);
    assert.match(out.lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} WARN  shop\/web request failed 503 req=r9$/);
    assert.equal(ring.recent({ level: 'warn' }, 10).length, 1);
  });

  test('the format is pretty on a terminal and JSON otherwise, unless the flag says', () => {
    assert.equal(defaultLogFormat(undefined, true), 'pretty');
    assert.equal(defaultLogFormat(undefined, false), 'json');
    assert.equal(defaultLogFormat('json', true), 'json');
    assert.equal(defaultLogFormat('pretty', false), 'pretty');
  });
});
