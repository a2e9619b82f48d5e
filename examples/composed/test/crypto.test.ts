/**
 * The auth component's hand-written crypto (components/auth/crypto) against node:crypto
 * (OpenSSL): SHA-256, SHA-512 and HMAC-SHA-256 on inputs around every block boundary, and
 * Ed25519 verification of signatures node made, of changed ones, under other keys, and of
 * encodings OpenSSL refuses. Runs in Node, on the same modules the component is built from.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { sha256, sha512 } from '../components/auth/crypto/sha2.js';
import { equalBytes, hmacSha256 } from '../components/auth/crypto/hmac.js';
import { ed25519Verify } from '../components/auth/crypto/ed25519.js';
import { base64Decode, base64UrlDecode } from '../components/auth/crypto/base64.js';
import { ed25519PublicKeyFromPem } from '../components/auth/pem.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
/** Lengths around the 64- and 128-byte blocks and the length fields' boundaries, and a few large ones. */
const LENGTHS = [0, 1, 3, 55, 56, 57, 63, 64, 65, 111, 112, 113, 119, 127, 128, 129, 200, 255, 256, 1000, 4096, 65_537];

function rawPublicKey(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'spki' }).subarray(12));
}

describe('sha2', () => {
  test('SHA-256 and SHA-512 match node:crypto at every block boundary', () => {
    for (const n of LENGTHS) {
      const data = randomBytes(n);
      assert.equal(hex(sha256(data)), createHash('sha256').update(data).digest('hex'), `sha256 of ${n} bytes`);
      assert.equal(hex(sha512(data)), createHash('sha512').update(data).digest('hex'), `sha512 of ${n} bytes`);
    }
  });

  test('the FIPS 180-4 "abc" vectors', () => {
    const abc = new TextEncoder().encode('abc');
    assert.equal(hex(sha256(abc)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(hex(sha512(abc)), 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f');
  });
});

describe('hmac', () => {
  test('HMAC-SHA-256 matches node:crypto for keys shorter than, as long as and longer than a block', () => {
    for (const keyLength of [0, 1, 32, 63, 64, 65, 200]) {
      for (const n of [0, 1, 64, 1000]) {
        const key = randomBytes(keyLength);
        const data = randomBytes(n);
        assert.equal(hex(hmacSha256(key, data)), createHmac('sha256', key).update(data).digest('hex'), `key ${keyLength} bytes, data ${n}`);
      }
    }
  });

  test('equalBytes tells equal from different bytes and lengths', () => {
    assert.ok(equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
    assert.ok(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
    assert.ok(!equalBytes(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2])));
  });
});

describe('ed25519', () => {
  test('accepts what node:crypto signs, for many keys and message lengths', () => {
    for (let i = 0; i < 24; i++) {
      const { publicKey, privateKey } = generateKeyPairSync('ed25519');
      const message = randomBytes(LENGTHS[i % LENGTHS.length]!);
      const signature = sign(null, message, privateKey);
      assert.ok(verify(null, message, publicKey, signature));
      assert.ok(ed25519Verify(rawPublicKey(publicKey), message, signature), `key ${i}, ${message.length} bytes`);
    }
  });

  test('the RFC 8032 section 7.1 vector (TEST 2)', () => {
    const publicKey = Buffer.from('3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c', 'hex');
    const signature = Buffer.from('92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00', 'hex');
    assert.ok(ed25519Verify(publicKey, Buffer.from('72', 'hex'), signature));
  });

  test('refuses every single-bit change to the message, the signature or the key, as node:crypto does', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const message = Buffer.from('{"sub":"ada"}');
    const signature = sign(null, message, privateKey);
    const raw = rawPublicKey(publicKey);
    for (let bit = 0; bit < 512; bit += 7) {
      const s = Buffer.from(signature);
      s[bit >> 3]! ^= 1 << (bit & 7);
      assert.equal(ed25519Verify(raw, message, s), verify(null, message, publicKey, s), `signature bit ${bit}`);
      assert.ok(!ed25519Verify(raw, message, s), `signature bit ${bit}`);
    }
    for (let bit = 0; bit < message.length * 8; bit += 5) {
      const m = Buffer.from(message);
      m[bit >> 3]! ^= 1 << (bit & 7);
      assert.ok(!ed25519Verify(raw, m, signature), `message bit ${bit}`);
    }
    for (let bit = 0; bit < 256; bit += 9) {
      const k = new Uint8Array(raw);
      k[bit >> 3]! ^= 1 << (bit & 7);
      assert.ok(!ed25519Verify(k, message, signature), `key bit ${bit}`);
    }
  });

  test('refuses a signature from another key, S not below the group order, and keys that are no point', () => {
    const message = Buffer.from('payload');
    const one = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    assert.ok(!ed25519Verify(rawPublicKey(other.publicKey), message, sign(null, message, one.privateKey)));
    // S + L verifies the same equation, but is not canonical: RFC 8032 and OpenSSL refuse it.
    const signature = sign(null, message, one.privateKey);
    const L = 2n ** 252n + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 63; i >= 32; i--) s = (s << 8n) | BigInt(signature[i]!);
    s += L;
    const big = Buffer.from(signature);
    for (let i = 32; i < 64; i++, s >>= 8n) big[i] = Number(s & 0xffn);
    assert.equal(verify(null, message, one.publicKey, big), false);
    assert.equal(ed25519Verify(rawPublicKey(one.publicKey), message, big), false);
    // y = p (not canonical), and y = 2 (x^2 has no square root), as keys.
    const p = Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex');
    const notOnCurve = Buffer.alloc(32);
    notOnCurve[0] = 2;
    assert.ok(!ed25519Verify(p, message, signature));
    assert.ok(!ed25519Verify(notOnCurve, message, signature));
    assert.ok(!ed25519Verify(rawPublicKey(one.publicKey), message, signature.subarray(0, 63)));
  });

  test('reads the public key from the PEM node:crypto writes, and refuses other keys', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const read = ed25519PublicKeyFromPem(pem);
    assert.ok(read.ok);
    assert.deepEqual(read.key, rawPublicKey(publicKey));
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'pem', type: 'spki' }).toString();
    assert.equal(ed25519PublicKeyFromPem(ec).ok, false);
    assert.equal(ed25519PublicKeyFromPem('not a key').ok, false);
  });
});

describe('base64', () => {
  test('decodes what Buffer encodes, and refuses padding, stray characters and non-canonical endings', () => {
    for (const n of [0, 1, 2, 3, 31, 32, 33, 64]) {
      const data = randomBytes(n);
      assert.equal(hex(base64UrlDecode(data.toString('base64url'))!), data.toString('hex'));
      assert.equal(hex(base64Decode(data.toString('base64'))!), data.toString('hex'));
    }
    assert.equal(base64UrlDecode('YQ=='), undefined, 'padding in base64url');
    assert.equal(base64UrlDecode('Y+8'), undefined, 'a standard-alphabet character');
    assert.equal(base64UrlDecode('Y'), undefined, 'one character is no byte');
    // "YQ" is "a"; "YR" carries the same byte with a set bit after it.
    assert.equal(hex(base64UrlDecode('YQ')!), '61');
    assert.equal(base64UrlDecode('YR'), undefined);
  });
});
