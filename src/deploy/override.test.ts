import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { OVERRIDE_LIMITS, createOverride, resolveVersion, type Override } from './override.js';

const STABLE = 'a3f1c0de';
const CANARY = 'b7e2d911';
const VERSIONS = [STABLE, CANARY];
const TOKEN = 'admin-token-0123456789';
const SECRET = randomBytes(32);

function harness(opts: { now?: number } = {}): { override: Override; clock: { now: number } } {
  const clock = { now: opts.now ?? Date.UTC(2025, 0, 1) };
  const expected = Buffer.from(TOKEN);
  const checkAdminToken = (token: string) => {
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  };
  return { override: createOverride({ secret: SECRET, checkAdminToken, now: () => clock.now }), clock };
}

function cookieHeader(setCookie: string): string {
  return setCookie.slice(0, setCookie.indexOf(';'));
}

describe('the override header', () => {
  test('selects a version by id or unique prefix when the request carries the admin token', () => {
    const { override } = harness();
    assert.equal(override.select('shop', { 'x-verge-version': CANARY, 'x-verge-admin-token': TOKEN }, VERSIONS), CANARY);
    assert.equal(override.select('shop', { 'x-verge-version': 'b7e', 'x-verge-admin-token': TOKEN }, VERSIONS), CANARY);
  });

  test('is ignored without the admin token or with a wrong one', () => {
    const { override } = harness();
    assert.equal(override.select('shop', { 'x-verge-version': CANARY }, VERSIONS), undefined);
    assert.equal(override.select('shop', { 'x-verge-version': CANARY, 'x-verge-admin-token': 'guess' }, VERSIONS), undefined);
    assert.equal(override.select('shop', { 'x-verge-version': CANARY, 'x-verge-admin-token': '' }, VERSIONS), undefined);
  });

  test('is ignored when it names no loaded version or a prefix of several', () => {
    const { override } = harness();
    const versions = ['abc123', 'abd456'];
    const asking = (v: string) => override.select('shop', { 'x-verge-version': v, 'x-verge-admin-token': TOKEN }, versions);
    assert.equal(asking('ab'), undefined);
    assert.equal(asking('ffff'), undefined);
    assert.equal(asking('abc1234'), undefined);
    assert.equal(asking('abd'), 'abd456');
  });
});

describe('the override cookie', () => {
  test('selects the version it was issued for, with no header needed, until it expires', () => {
    const { override, clock } = harness();
    const issued = override.issueCookie('shop', CANARY, 3600, { secure: false });
    const headers = { cookie: `theme=dark; ${cookieHeader(issued.setCookie)}` };
    assert.equal(override.select('shop', headers, VERSIONS), CANARY);
    clock.now += 3599_000;
    assert.equal(override.select('shop', headers, VERSIONS), CANARY);
    clock.now += 1000;
    assert.equal(override.select('shop', headers, VERSIONS), undefined, 'expired at its expiry second');
  });

  test('is set HttpOnly and SameSite=Lax for the whole host, Secure over TLS, with the expiry it carries', () => {
    const { override, clock } = harness();
    const issued = override.issueCookie('shop', CANARY, 600, { secure: true });
    assert.equal(issued.expiresAt, clock.now / 1000 + 600);
    assert.match(issued.value, new RegExp(`^${CANARY}\\.${issued.expiresAt}\\.[A-Za-z0-9_-]{43}$`));
    assert.equal(issued.setCookie, `verge-override=${issued.value}; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure`);
  });

  test('is ignored when its version, expiry or MAC was edited, or it was issued for another app', () => {
    const { override } = harness();
    const { value } = override.issueCookie('shop', CANARY, 3600, { secure: false });
    const [, expiry, mac] = value.split('.') as [string, string, string];
    const flipped = mac.slice(0, -2) + (mac.at(-2) === 'A' ? 'B' : 'A') + mac.at(-1);
    for (const forged of [`${STABLE}.${expiry}.${mac}`, `${CANARY}.${Number(expiry) + 86400}.${mac}`, `${CANARY}.${expiry}.${flipped}`]) {
      assert.equal(override.verifyCookie('shop', forged), undefined, forged);
      assert.equal(override.select('shop', { cookie: `verge-override=${forged}` }, VERSIONS), undefined, forged);
    }
    assert.equal(override.verifyCookie('shop', value), CANARY);
    assert.equal(override.verifyCookie('blog', value), undefined);
  });

  test('is ignored when signed under another secret (another node, or the secret was rotated)', () => {
    const { value } = harness().override.issueCookie('shop', CANARY, 3600, { secure: false });
    const other = createOverride({ secret: randomBytes(32), checkAdminToken: () => false });
    assert.equal(other.verifyCookie('shop', value), undefined);
  });

  test('accepts only the canonical spelling of its MAC', () => {
    const { override } = harness();
    const { value } = override.issueCookie('shop', CANARY, 3600, { secure: false });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(value.at(-1)!);
    // The last of 43 characters carries 4 bits: its 2 low bits are spare, and the decoder ignores them.
    const sameBytes = value.slice(0, -1) + alphabet[last ^ 1];
    assert.deepEqual(Buffer.from(sameBytes.split('.')[2]!, 'base64url'), Buffer.from(value.split('.')[2]!, 'base64url'));
    assert.equal(override.verifyCookie('shop', sameBytes), undefined);
    assert.equal(override.verifyCookie('shop', value.replace(/\.([^.]*)$/, '.$1!')), undefined, 'a stray character the decoder would skip');
  });

  test('ignores malformed values without throwing', () => {
    const { override } = harness();
    const { value } = override.issueCookie('shop', CANARY, 3600, { secure: false });
    for (const bad of ['', '.', '..', 'x', `${CANARY}..`, `.${value}`, `${value}.`, `${value}=`, `${value}x`, `a.b.${value.split('.')[2]}`, `${CANARY}.-1.${value.split('.')[2]}`, `${CANARY}.1e9.${value.split('.')[2]}`]) {
      assert.equal(override.verifyCookie('shop', bad), undefined, JSON.stringify(bad));
      assert.equal(override.select('shop', { cookie: `verge-override=${bad}` }, VERSIONS), undefined, JSON.stringify(bad));
    }
  });

  test('is ignored when its version is no longer loaded', () => {
    const { override } = harness();
    const issued = override.issueCookie('shop', CANARY, 3600, { secure: false });
    assert.equal(override.select('shop', { cookie: cookieHeader(issued.setCookie) }, [STABLE]), undefined);
  });

  test('gives way to the header when the request also carries the admin token', () => {
    const { override } = harness();
    const issued = override.issueCookie('shop', CANARY, 3600, { secure: false });
    const cookie = cookieHeader(issued.setCookie);
    assert.equal(override.select('shop', { cookie, 'x-verge-version': STABLE, 'x-verge-admin-token': TOKEN }, VERSIONS), STABLE);
    assert.equal(override.select('shop', { cookie, 'x-verge-version': STABLE }, VERSIONS), CANARY, 'without the token the header grants nothing; the cookie still does');
  });

  test('is issued only for a version id and a lifetime within the limit', () => {
    const { override } = harness();
    assert.throws(() => override.issueCookie('shop', 'a.b', 60, { secure: false }), /expected a version id .* got "a\.b"/);
    assert.throws(() => override.issueCookie('shop', CANARY, 0, { secure: false }), /expected a lifetime from 1 to 604800 seconds, got 0/);
    assert.throws(() => override.issueCookie('shop', CANARY, OVERRIDE_LIMITS.maxTtlSeconds + 1, { secure: false }), RangeError);
  });
});

test('the override refuses a secret shorter than 32 bytes', () => {
  assert.throws(() => createOverride({ secret: randomBytes(16), checkAdminToken: () => true }), /override secret: expected at least 32 bytes, got 16/);
});

test('no request asks for a version unless it carries the header or the cookie', () => {
  const { override } = harness();
  let checked = 0;
  const counting = createOverride({ secret: SECRET, checkAdminToken: () => (checked++, true) });
  assert.equal(override.select('shop', {}, VERSIONS), undefined);
  assert.equal(counting.select('shop', { 'x-verge-admin-token': TOKEN, cookie: 'a=b' }, VERSIONS), undefined);
  assert.equal(checked, 0, 'the admin token is not even checked without an override header');
});

test('an exact version id wins over a longer id it is a prefix of', () => {
  assert.equal(resolveVersion('ab', ['abc', 'ab']), 'ab');
  assert.equal(resolveVersion('a', ['abc', 'ab']), undefined);
});
