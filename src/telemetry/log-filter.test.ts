import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { matches, parseLogQuery, queryOf, DEFAULT_LOG_LIMIT, MAX_FILTER_CHARS } from './log-filter.js';
import { LEVEL_VALUES, recordOf, type RecordLevel } from './log-record.js';
import { vergeError } from '../../test/support/verge-error.js';

const rec = (level: RecordLevel, fields: Record<string, unknown>, msg = 'request') => recordOf([fields, msg], LEVEL_VALUES[level], 0, 1);
const parse = (q: string, max = 5000) => parseLogQuery(new URLSearchParams(q), max);

describe('log filters', () => {
  test('a level keeps that level and those above', () => {
    const f = parse('level=warn').filter;
    assert.deepEqual((['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const).map((l) => matches(f, rec(l, {}))), [false, false, false, true, true, true]);
  });

  test('app, component and request id must be equal; all given filters must hold', () => {
    const r = rec('info', { app: 'shop', component: 'web', request_id: 'abc' });
    assert.ok(matches(parse('app=shop&component=web&request_id=abc').filter, r));
    assert.ok(!matches(parse('app=sho').filter, r));
    assert.ok(!matches(parse('app=shop&component=api').filter, r));
    assert.ok(!matches(parse('request_id=abcd').filter, r));
    assert.ok(!matches(parse('request_id=abc').filter, rec('info', {})));
  });

  test('q finds text in the message or a field value, in any case', () => {
    const r = rec('info', { line: 'Cart Total 42', status: 503, err: new Error('Disk full') }, 'guest');
    for (const q of ['GUEST', 'cart total', '503', 'disk', '42']) assert.ok(matches(parse(`q=${encodeURIComponent(q)}`).filter, r), q);
    assert.ok(!matches(parse('q=missing').filter, r));
  });

  test('a query has defaults: no filter, the newest 100 records, no following; an empty parameter is absent', () => {
    assert.deepEqual(parse(''), { filter: { app: undefined, component: undefined, request_id: undefined, q: undefined }, limit: DEFAULT_LOG_LIMIT, follow: false });
    assert.deepEqual(parse('app=&level=&limit=&follow='), parse(''));
    assert.equal(parse('', 20).limit, 20, 'never more than the ring holds');
    assert.equal(parse('follow=1').follow, true);
    assert.equal(parse('follow=true&limit=0').limit, 0);
  });

  test('an unknown parameter, a bad level, limit or follow, or a too long filter is refused with LOGS_QUERY_INVALID', () => {
    assert.throws(() => parse('levle=warn'), vergeError('LOGS_QUERY_INVALID', /unknown parameter "levle"/));
    assert.throws(() => parse('level=loud'), vergeError('LOGS_QUERY_INVALID', /level: expected one of trace, debug/));
    for (const limit of ['-1', '5001', '2.5', 'ten']) assert.throws(() => parse(`limit=${limit}`), vergeError('LOGS_QUERY_INVALID', /limit: expected a whole number from 0 to 5000/));
    assert.throws(() => parse('follow=yes'), vergeError('LOGS_QUERY_INVALID', /follow: expected 1 or 0/));
    assert.throws(() => parse(`q=${'x'.repeat(MAX_FILTER_CHARS + 1)}`), vergeError('LOGS_QUERY_INVALID', /q: longer than 512/));
  });

  test('the query string of a filter parses back to the same filter', () => {
    const filter = { app: 'shop', component: 'web', level: 'warn' as const, request_id: 'r 1', q: 'a&b' };
    assert.deepEqual(parse(queryOf(filter, { limit: 5, follow: 1 }).slice(1)), { filter, limit: 5, follow: true });
    assert.equal(queryOf({}), '');
  });
});
