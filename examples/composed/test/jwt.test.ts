/**
 * The auth component's token verification (components/auth/jwt.ts), run in Node on tokens
 * node:crypto mints: what it accepts, and each way a token is refused, with the refusal's code.
 * The same cases go through the served app in composed.test.ts.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LIMITS, verifyJwt, type ErrorCode, type KeySource, type Verdict } from '../components/auth/jwt.js';
import { ed25519PublicKeyFromPem } from '../components/auth/pem.js';
import { b64url, claims, eddsa, hs256, makeKeys, mint, nowSeconds, tamperPayload, tamperSignature } from './tokens.js';

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const keys = makeKeys();
const publicKey = ed25519PublicKeyFromPem(keys.publicPem);
const source: KeySource = (alg) => (alg === 'HS256' ? { ok: true, key: new TextEncoder().encode(keys.secret) } : publicKey);

const verify = (token: string, at = nowSeconds()): Verdict => verifyJwt(token, source, at);

function assertRefused(verdict: Verdict, code: ErrorCode, what: string): void {
  assert.ok(!verdict.ok, `${what}: accepted`);
  assert.equal(verdict.refusal.code, code, `${what}: ${verdict.refusal.message}`);
}

describe('verifyJwt', () => {
  for (const [alg, make] of [['HS256', hs256], ['EdDSA', eddsa]] as const) {
    test(`accepts a valid ${alg} token and returns its claims`, () => {
      const payload = claims('ada', { iss: 'tests' });
      const verdict = verify(make(keys, payload));
      assert.ok(verdict.ok, JSON.stringify(verdict));
      assert.deepEqual(verdict.claims, {
        subject: 'ada',
        algorithm: alg,
        issuedAt: payload.iat,
        expiresAt: payload.exp,
        scopes: ['profile:read', 'profile:write'],
        payload: JSON.stringify(payload),
      });
    });

    test(`refuses a ${alg} token that expired, or is not valid yet, past the clock skew`, () => {
      const now = nowSeconds();
      assertRefused(verify(make(keys, claims('ada', { exp: now - 3600 }))), 'token-expired', 'an hour ago');
      assertRefused(verify(make(keys, claims('ada', { exp: now - LIMITS.clockSkewSeconds - 2 }))), 'token-expired', 'just past the skew');
      assert.ok(verify(make(keys, claims('ada', { exp: now - LIMITS.clockSkewSeconds + 2 }))).ok, 'within the skew');
      assertRefused(verify(make(keys, claims('ada', { nbf: now + 3600 }))), 'token-not-yet-valid', 'nbf in an hour');
    });

    test(`refuses a ${alg} token whose signature or payload was changed`, () => {
      const token = make(keys, claims('ada'));
      assertRefused(verify(tamperSignature(token)), 'signature-invalid', 'signature');
      assertRefused(verify(tamperPayload(token, claims('admin'))), 'signature-invalid', 'payload');
      // The last character's lowest bit lies past the signature's last byte (32 and 64 bytes leave
      // 2 and 4 bits over): a lenient decoder reads the same signature, this one refuses it.
      const sibling = BASE64URL[BASE64URL.indexOf(token.at(-1)!) ^ 1]!;
      assertRefused(verify(token.slice(0, -1) + sibling), 'token-malformed', 'another spelling of the same signature');
    });
  }

  test('refuses none and every algorithm but HS256 and EdDSA before it reads a key', () => {
    let asked = 0;
    const counting: KeySource = (alg) => (asked++, source(alg));
    const payload = claims('ada');
    for (const alg of ['none', 'None', 'HS512', 'RS256', 'ES256', 'hs256', '']) {
      const token = mint(keys, payload, { signWith: alg === 'HS512' ? 'HS512' : 'none', header: { alg, typ: 'JWT' } });
      assertRefused(verifyJwt(token, counting, nowSeconds()), 'algorithm-not-allowed', `alg ${alg}`);
    }
    assertRefused(verifyJwt(`${b64url({ typ: 'JWT' })}.${b64url(payload)}.`, counting, nowSeconds()), 'algorithm-not-allowed', 'no alg');
    assert.equal(asked, 0);
  });

  test('checks each algorithm against its own key only (no algorithm confusion)', () => {
    const payload = claims('ada');
    // HS256 keyed with the public key's PEM: the classic confusion attack.
    assertRefused(verify(mint(keys, payload, { signWith: 'HS256', hmacKey: keys.publicPem })), 'signature-invalid', 'HMAC with the public key');
    assertRefused(verify(mint(keys, payload, { signWith: 'HS256', header: { alg: 'EdDSA' } })), 'signature-invalid', 'EdDSA header, HMAC signature');
    assertRefused(verify(mint(keys, payload, { signWith: 'EdDSA', header: { alg: 'HS256' } })), 'signature-invalid', 'HS256 header, Ed25519 signature');
    assertRefused(verify(mint(makeKeys(), payload, { signWith: 'EdDSA' })), 'signature-invalid', 'another Ed25519 key');
  });

  test('refuses malformed tokens, crit, a foreign typ, and claims it cannot use', () => {
    const ok = hs256(keys, claims('ada'));
    for (const bad of ['', 'abc', 'a.b', `${ok}.x`, `${ok.split('.')[0]}..${ok.split('.')[2]}`, `!!.${ok}`, 'x'.repeat(LIMITS.maxTokenBytes + 1)]) {
      assertRefused(verify(bad), 'token-malformed', JSON.stringify(bad.slice(0, 40)));
    }
    assertRefused(verify(mint(keys, claims('ada'), { signWith: 'HS256', header: { alg: 'HS256', crit: ['exp'] } })), 'token-malformed', 'crit');
    assertRefused(verify(mint(keys, claims('ada'), { signWith: 'HS256', header: { alg: 'HS256', typ: 'JOSE+JSON' } })), 'token-malformed', 'typ');
    for (const [what, payload] of [
      ['no sub', claims('ada', { sub: undefined })],
      ['an empty sub', claims('')],
      ['a sub with a space', claims('ada lovelace')],
      ['a sub with a newline', claims('ada\nx-admin: yes')],
      ['a sub too long', claims('a'.repeat(LIMITS.maxSubjectChars + 1))],
      ['no exp', claims('ada', { exp: undefined })],
      ['exp a string', claims('ada', { exp: '2099-01-01' })],
      ['scope a list', claims('ada', { scope: ['a'] })],
    ] as const) {
      assertRefused(verify(hs256(keys, payload)), 'claims-invalid', what);
    }
  });

  test('says which key is missing, without failing the other algorithm', () => {
    const noKeys: KeySource = (alg) => (alg === 'HS256' ? source(alg) : { ok: false, message: 'no file' });
    assertRefused(verifyJwt(eddsa(keys, claims('ada')), noKeys, nowSeconds()), 'key-unavailable', 'EdDSA without a key');
    assert.ok(verifyJwt(hs256(keys, claims('ada')), noKeys, nowSeconds()).ok);
  });
});
