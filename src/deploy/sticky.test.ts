import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_STICKY_COOKIE, NO_STICKY, STICKY_COOKIE_MAX_AGE_SECONDS, keyFor, newStickyCookie, parseSticky, type StickyConfig } from './sticky.js';
import { parsedClean, problemsFrom } from './fixtures.js';

const parsed = (raw: unknown): StickyConfig | undefined => parsedClean(parseSticky, raw, 'sticky');
const problemsOf = (raw: unknown): string[] => problemsFrom(parseSticky, raw, 'sticky');

describe('parseSticky', () => {
  test('reads each kind, lower-cases a header name and gives the cookie a default name', () => {
    assert.deepEqual(parsed({ kind: 'header', name: 'X-User-Id' }), { kind: 'header', name: 'x-user-id' });
    assert.deepEqual(parsed({ kind: 'cookie' }), { kind: 'cookie', name: DEFAULT_STICKY_COOKIE });
    assert.deepEqual(parsed({ kind: 'cookie', name: 'ab_group' }), { kind: 'cookie', name: 'ab_group' });
    assert.deepEqual(parsed({ kind: 'client' }), { kind: 'client' });
    assert.deepEqual(parsed({ kind: 'none' }), NO_STICKY);
  });

  test('takes no sticky config as none: requests are placed one by one', () => {
    assert.equal(parsed(undefined), NO_STICKY);
  });

  test('refuses an unknown kind or a non-object, listing the kinds', () => {
    assert.deepEqual(problemsOf({ kind: 'ip' }), ['sticky.kind: expected { "kind": "header", "name": … }, { "kind": "cookie" }, { "kind": "client" } or { "kind": "none" }, got a kind of the string "ip"']);
    assert.match(problemsOf('client')[0]!, /^sticky: expected .* got the string "client"$/);
    assert.match(problemsOf(null)[0]!, /got null$/);
  });

  test('refuses a header kind without a valid header name', () => {
    assert.deepEqual(problemsOf({ kind: 'header' }), ['sticky.name: expected a request header name such as "x-user-id" (an HTTP token of 1 to 64 characters), got nothing']);
    assert.match(problemsOf({ kind: 'header', name: 'x user' })[0]!, /^sticky\.name: expected a request header name .* got the string "x user"$/);
  });

  test('refuses to stick by the Cookie header or one of Verge\'s own, saying what to do instead', () => {
    assert.deepEqual(problemsOf({ kind: 'header', name: 'Cookie' }), ['sticky.name: cannot stick by the cookie header: use { "kind": "cookie", "name": … } to stick by one cookie']);
    assert.deepEqual(problemsOf({ kind: 'header', name: 'x-verge-admin-token' }), ["sticky.name: cannot stick by the x-verge-admin-token header: x-verge-* headers are Verge's own"]);
  });

  test('refuses a bad cookie name and the override cookie\'s name', () => {
    assert.match(problemsOf({ kind: 'cookie', name: 'a=b' })[0]!, /^sticky\.name: expected a cookie name .* got the string "a=b"$/);
    assert.match(problemsOf({ kind: 'cookie', name: 'verge-override' })[0]!, /\(verge-override is the override cookie\)$/);
  });

  test('refuses keys the kind does not take', () => {
    assert.deepEqual(problemsOf({ kind: 'client', name: 'x' }), ['sticky.name: is not a known key (expected "kind")']);
    assert.deepEqual(problemsOf({ kind: 'header', name: 'x-user', header: 'x' }), ['sticky.header: is not a known key (expected "kind", "name")']);
    assert.deepEqual(problemsOf({ kind: 'none', weight: 1 }), ['sticky.weight: is not a known key (expected "kind")']);
  });
});

describe('keyFor', () => {
  const headers = { 'x-user-id': 'u-42', cookie: 'theme=dark; verge-sticky=9f2c' };

  test('reads the configured header, the configured cookie or the client address', () => {
    assert.equal(keyFor({ kind: 'header', name: 'x-user-id' }, headers, '203.0.113.7'), 'u-42');
    assert.equal(keyFor({ kind: 'cookie', name: 'verge-sticky' }, headers, '203.0.113.7'), '9f2c');
    assert.equal(keyFor({ kind: 'client' }, headers, '203.0.113.7'), '203.0.113.7');
  });

  test('gives no key without a sticky config, or when the header, cookie or address is missing', () => {
    assert.equal(keyFor(NO_STICKY, headers, '203.0.113.7'), undefined);
    assert.equal(keyFor({ kind: 'header', name: 'x-tenant' }, headers, '203.0.113.7'), undefined);
    assert.equal(keyFor({ kind: 'cookie', name: 'other' }, headers, '203.0.113.7'), undefined);
    assert.equal(keyFor({ kind: 'client' }, headers, undefined), undefined);
  });

  test('treats an IPv4 client seen through a dual-stack listener as the same client', () => {
    assert.equal(keyFor({ kind: 'client' }, {}, '::ffff:203.0.113.7'), '203.0.113.7');
    assert.equal(keyFor({ kind: 'client' }, {}, '2001:db8::1'), '2001:db8::1');
  });
});

describe('newStickyCookie', () => {
  test('places the request by a fresh id and sets it as an HttpOnly, SameSite=Lax cookie for the whole host', () => {
    const { key, setCookie } = newStickyCookie({ name: 'verge-sticky' }, { secure: false }, () => 'id-1');
    assert.equal(key, 'id-1');
    assert.equal(setCookie, `verge-sticky=id-1; Path=/; Max-Age=${STICKY_COOKIE_MAX_AGE_SECONDS}; HttpOnly; SameSite=Lax`);
    assert.match(newStickyCookie({ name: 'verge-sticky' }, { secure: true }).setCookie, /; Secure$/);
  });

  test('gives each new client a different random id that the next request reads back as its key', () => {
    const config = { kind: 'cookie', name: 'verge-sticky' } as const;
    const ids = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const { key, setCookie } = newStickyCookie(config, { secure: false });
      const cookie = setCookie.slice(0, setCookie.indexOf(';'));
      assert.equal(keyFor(config, { cookie }, undefined), key);
      ids.add(key);
    }
    assert.equal(ids.size, 100);
  });
});
