import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createLogRing } from './log-ring.js';
import { LEVEL_VALUES, type LogRecord } from './log-record.js';

const INFO = LEVEL_VALUES.info;
const msgs = (records: LogRecord[]) => records.map((r) => r.msg);

describe('log ring', () => {
  test('keeps the newest records up to its capacity, oldest first, numbered in the order they were logged', () => {
    const ring = createLogRing(3);
    for (const m of ['a', 'b', 'c', 'd', 'e']) ring.push([{}, m], INFO);
    assert.deepEqual(msgs(ring.recent({}, 10)), ['c', 'd', 'e']);
    assert.deepEqual(ring.recent({}, 10).map((r) => r.seq), [3, 4, 5]);
    assert.equal(ring.lastSeq, 5);
  });

  test('recent gives the newest matching records up to the limit, and only those after a seq when asked', () => {
    const ring = createLogRing(10);
    for (let i = 1; i <= 6; i++) ring.push([{ app: i % 2 === 0 ? 'even' : 'odd' }, `m${i}`], INFO);
    assert.deepEqual(msgs(ring.recent({ app: 'even' }, 2)), ['m4', 'm6']);
    assert.deepEqual(msgs(ring.recent({}, 10, 4)), ['m5', 'm6']);
    assert.deepEqual(ring.recent({}, 0), []);
  });

  test('an empty ring has no records', () => {
    assert.deepEqual(createLogRing(4).recent({}, 10), []);
  });

  test('a subscriber gets new matching records in one batch after the turn that logged them, never those before it subscribed', async () => {
    const ring = createLogRing(10);
    ring.push([{}, 'before'], LEVEL_VALUES.error);
    const got: string[][] = [];
    const sub = ring.subscribe({ level: 'warn' }, (records) => got.push(msgs(records)));
    ring.push([{}, 'quiet'], INFO);
    ring.push([{}, 'loud'], LEVEL_VALUES.error);
    ring.push([{}, 'louder'], LEVEL_VALUES.fatal);
    assert.deepEqual(got, [], 'nothing is delivered in the turn that logged');
    await nextTurn();
    assert.deepEqual(got, [['loud', 'louder']]);
    sub.close();
    ring.push([{}, 'after close'], LEVEL_VALUES.error);
    await nextTurn();
    assert.deepEqual(got, [['loud', 'louder']]);
  });

  test('a record logged before a subscription but delivered after it is not sent to the new subscriber twice', async () => {
    const ring = createLogRing(10);
    const first: string[] = [];
    ring.subscribe({}, (records) => first.push(...msgs(records)));
    ring.push([{}, 'x'], INFO);
    const second: string[] = [];
    // As GET /v1/logs?follow=1 does: the backlog from recent(), then the subscription, in one turn.
    second.push(...msgs(ring.recent({}, 10)));
    ring.subscribe({}, (records) => second.push(...msgs(records)));
    ring.push([{}, 'y'], INFO);
    await nextTurn();
    assert.deepEqual(first, ['x', 'y']);
    assert.deepEqual(second, ['x', 'y']);
  });

  test('a subscriber that throws is dropped and the others still get the batch', async () => {
    const ring = createLogRing(10);
    let calls = 0;
    ring.subscribe({}, () => {
      calls++;
      throw new Error('broken reader');
    });
    const got: string[] = [];
    ring.subscribe({}, (records) => got.push(...msgs(records)));
    ring.push([{}, 'one'], INFO);
    await nextTurn();
    ring.push([{}, 'two'], INFO);
    await nextTurn();
    assert.equal(calls, 1);
    assert.deepEqual(got, ['one', 'two']);
  });
});
