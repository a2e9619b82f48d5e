import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { HostCallError } from '../abi.js';
import { decodeParams, encodeParams, encodeResult, TAG } from './codec.js';
import { decodeBytea, describeColumn, parseArray, utcTimestamp } from './values.js';
import type { PgParam } from './types.js';

describe('the verge:v1 value encoding', () => {
  test('parameters of every kind survive an encode and a decode', () => {
    const params: PgParam[] = [
      null,
      { kind: 'bool', value: true },
      { kind: 'int', value: -(2n ** 63n) },
      { kind: 'float', value: 1.25 },
      { kind: 'text', value: "Robert'); DROP TABLE users;--" },
      { kind: 'bytes', value: Uint8Array.of(0, 255, 7) },
      { kind: 'numeric', value: '12345678901234567890.5' },
      { kind: 'uuid', value: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' },
      { kind: 'json', value: '{"a":[1,2]}' },
      { kind: 'timestamptz', value: '2024-05-01T13:45:00Z' },
      { kind: 'array', value: [{ kind: 'int', value: 1n }, null, { kind: 'array', value: [] }] },
    ];
    assert.deepEqual(decodeParams(encodeParams(params), 'pg_query'), params);
  });

  test('a malformed encoding is INVALID_ARGUMENT saying at which byte', () => {
    const refuse = (bytes: number[], expected: RegExp) =>
      assert.throws(() => decodeParams(Uint8Array.from(bytes), 'pg_query'), (e: unknown) => e instanceof HostCallError && e.status === 'INVALID_ARGUMENT' && expected.test(e.message));
    refuse([TAG.INT, 4, 0, 0, 0, 1, 2, 3, 4], /at byte 0: a value with tag 2 is 8 bytes, not 4/);
    refuse([TAG.TEXT, 9, 0, 0, 0, 65], /length 9 runs past the end/);
    refuse([99, 0, 0, 0, 0], /unknown tag 99/);
    refuse([TAG.TEXT, 1, 0, 0, 0, 0xff], /not valid UTF-8/);
    refuse([TAG.NULL, 0, 0], /a tag and a 4-byte length/);
    // Seven arrays deep: PostgreSQL has at most six dimensions.
    let nested: number[] = [];
    for (let i = 0; i < 7; i++) nested = [TAG.ARRAY, nested.length, 0, 0, 0, ...nested];
    refuse(nested, /nest at most 6 deep/);
  });

  test('a result lists its columns with their types, then each row', () => {
    const columns = [describeColumn('id', 20), describeColumn('tags', 1009), describeColumn('at', 1184)];
    const bytes = encodeResult(columns, [[7n, ['a', null], '2024-05-01T13:45:00Z']]);
    assert.deepEqual(readResult(bytes), {
      columns: [['id', 'int8'], ['tags', 'text[]'], ['at', 'timestamptz']],
      rows: [[[TAG.INT, 7n], [TAG.ARRAY, [[TAG.TEXT, 'a'], [TAG.NULL, null]]], [TAG.TIMESTAMPTZ, '2024-05-01T13:45:00Z']]],
    });
  });
});

type Read = [number, unknown];

/** A reader as an SDK writes it: every value is [tag][u32 length][payload]. */
function readResult(bytes: Uint8Array): { columns: Array<[string, string]>; rows: Read[][] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  let at = 0;
  const u32 = () => ((at += 4), view.getUint32(at - 4, true));
  const str = () => {
    const n = u32();
    return text.decode(bytes.subarray(at, (at += n)));
  };
  const value = (): Read => {
    const tag = bytes[at]!;
    at++;
    const length = u32();
    const end = at + length;
    let v: unknown;
    if (tag === TAG.NULL) v = null;
    else if (tag === TAG.INT) v = view.getBigInt64(at, true);
    else if (tag === TAG.ARRAY) {
      const items: Read[] = [];
      while (at < end) items.push(value());
      v = items;
    } else v = text.decode(bytes.subarray(at, end));
    at = end;
    return [tag, v];
  };
  const columns: Array<[string, string]> = [];
  for (let n = u32(); n > 0; n--) columns.push([str(), str()]);
  const rows: Read[][] = [];
  for (let n = u32(); n > 0; n--) rows.push(columns.map(() => value()));
  assert.equal(at, bytes.length, 'nothing left over');
  return { columns, rows };
}

describe("PostgreSQL's text form", () => {
  test('arrays parse with quotes, escapes, NULL and nesting, typed by their element', () => {
    assert.deepEqual(parseArray('{1,NULL,3}', 'int'), [1n, null, 3n]);
    assert.deepEqual(parseArray('{"a b","c\\"d","NULL",NULL}', 'text'), ['a b', 'c"d', 'NULL', null]);
    assert.deepEqual(parseArray('{{1,2},{3,4}}', 'int'), [[1n, 2n], [3n, 4n]]);
    assert.deepEqual(parseArray('[0:1]={t,f}', 'bool'), [true, false]);
    assert.deepEqual(parseArray('{}', 'text'), []);
  });

  test('bytea reads in the hex and the escape format', () => {
    assert.deepEqual(decodeBytea('\\x00ff41'), Uint8Array.of(0, 255, 65));
    assert.deepEqual(decodeBytea('a\\000\\\\'), Uint8Array.of(97, 0, 92));
  });

  test('timestamptz becomes ISO 8601 in UTC, whatever the offset it was printed with', () => {
    assert.equal(utcTimestamp('2024-05-01 13:45:00.25+00'), '2024-05-01T13:45:00.25Z');
    assert.equal(utcTimestamp('2024-05-01 00:30:00+02'), '2024-04-30T22:30:00Z');
    assert.equal(utcTimestamp('2024-05-01 00:30:00-05:30'), '2024-05-01T06:00:00Z');
    assert.equal(utcTimestamp('infinity'), 'infinity');
  });

  test('a type Verge does not name is described by its OID and read as text', () => {
    assert.deepEqual(describeColumn('x', 16385), { name: 'x', type: 'oid 16385', kind: 'other', array: false });
  });
});
