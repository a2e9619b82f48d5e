import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LEVEL_VALUES, recordFromJson, recordJson, recordOf } from './log-record.js';

const T = Date.UTC(2026, 10, 30, 8, 0, 0, 123);

describe('log records', () => {
  test('are read from a logger call as pino reads it: fields and message, message alone, or an error', () => {
    assert.deepEqual(recordOf([{ app: 'shop' }, 'request'], LEVEL_VALUES.info, T, 1), { seq: 1, time: T, level: 'info', msg: 'request', fields: { app: 'shop' } });
    assert.deepEqual(recordOf(['%s workers', 4], LEVEL_VALUES.warn, T, 2), { seq: 2, time: T, level: 'warn', msg: '4 workers', fields: {} });
    const err = new Error('boom');
    const r = recordOf([err], LEVEL_VALUES.error, T, 3);
    assert.equal(r.msg, 'boom');
    assert.equal(r.fields.err, err);
  });

  test('take the fields object as given, without copying it', () => {
    const fields = { request_id: 'r1' };
    assert.equal(recordOf([fields, 'm'], LEVEL_VALUES.info, T, 1).fields, fields);
  });

  test('in JSON have the shape of a stdout line plus seq: level, time, fields, msg; errors and bigints made JSON', () => {
    const r = recordOf([{ request_id: 'r1', n: 10n, err: new TypeError('bad'), gone: undefined }, 'host call failed'], LEVEL_VALUES.error, T, 7);
    const json = recordJson(r);
    assert.deepEqual(Object.keys(json), ['level', 'time', 'request_id', 'n', 'err', 'msg', 'seq']);
    assert.equal(json.time, '2026-11-30T08:00:00.123Z');
    assert.equal(json.n, '10');
    assert.deepEqual({ ...(json.err as object), stack: undefined }, { type: 'TypeError', message: 'bad', stack: undefined });
    assert.match((json.err as { stack: string }).stack, /TypeError: bad/);
  });

  test('come back from their JSON form with the same time, level, message and fields', () => {
    const r = recordOf([{ app: 'shop', status: 200 }, 'request'], LEVEL_VALUES.debug, T, 9);
    assert.deepEqual(recordFromJson(JSON.parse(JSON.stringify(recordJson(r)))), r);
  });
});
