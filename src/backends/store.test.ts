import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { INT64_MAX, INT64_MIN, compareUtf8, nextCounter, parseCounter, StoreError } from './store.js';

const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('compareUtf8', () => {
  test('agrees with comparing the UTF-8 bytes, for strings mixing ASCII, BMP above U+E000 and astral characters', () => {
    const alphabet = ['a', 'z', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '\ud7ff', '\ue000', 'ｚ', '\uffff', '😀', '\u{10000}', '\u{10FFFF}'];
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const word = (): string => Array.from({ length: random(4) }, () => alphabet[random(alphabet.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const a = word();
      const b = word();
      assert.equal(Math.sign(compareUtf8(a, b)), Buffer.compare(Buffer.from(a), Buffer.from(b)), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
    }
  });
});

describe('counters', () => {
  test('canonical decimal integers within signed 64 bits parse', () => {
    for (const value of ['0', '7', '-7', '42', String(INT64_MAX), String(INT64_MIN)]) assert.equal(parseCounter(ascii(value)), BigInt(value));
  });

  test('anything else does not parse, as Redis INCRBY would refuse it', () => {
    for (const value of ['', '-', '-0', '00', '01', '+1', ' 1', '1 ', '1.0', '1e3', '0x1', '9223372036854775808', '-9223372036854775809', '1'.repeat(21)]) {
      assert.equal(parseCounter(ascii(value)), undefined, JSON.stringify(value));
    }
  });

  test('nextCounter states the 64-bit range when the result would leave it', () => {
    assert.throws(() => nextCounter('n', ascii(String(INT64_MAX)), 1n), (err: unknown) => err instanceof StoreError && err.reason === 'NOT_A_NUMBER' && /signed 64-bit range \[-9223372036854775808, 9223372036854775807\]/.test(err.message));
  });

  test('a delta outside 64 bits is a caller bug, not NOT_A_NUMBER', () => {
    assert.throws(() => nextCounter('n', undefined, INT64_MAX + 1n), RangeError);
  });
});
