import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareUtf8 } from '../store.js';
import { decodeKey, encodeKey } from './key-codec.js';

const NATS_KEY = /^[-/=.\w]+$/;
const SAMPLES = ['a', 'ab', 'abc', 'abcd', 'user/1', 'user/10', 'user', 'users/1', 'café', 'cafe', 'Café', '😀/x', 'a\u0000b', 'a\u0000', 'a', 'ｚ', 'z', 'é', 'e', '\u007f', '\u0080', '¿', '¿a', '¿\u{10FFFF}', 'À', '¾', '\u0000', '\u0000\u0000', '.', '..', 'a.b', ' ', '*', '>', 'k'.repeat(512)];

test('every key encodes to a valid NATS key and decodes back to itself', () => {
  for (const key of SAMPLES) {
    const token = encodeKey(key);
    assert.match(token, NATS_KEY, JSON.stringify(key));
    assert.ok(!token.includes('.'), JSON.stringify(key));
    assert.equal(decodeKey(token), key, JSON.stringify(key));
  }
});

test('encoded keys sort in the UTF-8 byte order of the keys', () => {
  const byKey = [...SAMPLES].sort(compareUtf8);
  const byToken = [...SAMPLES].sort((a, b) => (encodeKey(a) < encodeKey(b) ? -1 : encodeKey(a) > encodeKey(b) ? 1 : 0));
  assert.deepEqual(byToken, byKey);
});

test('a 512-byte key takes 683 characters', () => {
  assert.equal(encodeKey('k'.repeat(512)).length, 683);
});

test('a token no key encodes to decodes to undefined: foreign characters, non-zero padding, invalid UTF-8', () => {
  for (const token of ['a.b', 'a b', 'YR', 'YW', '_-', 'zzzz']) assert.equal(decodeKey(token), undefined, token);
});
