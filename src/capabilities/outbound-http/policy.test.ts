import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundPolicy, createOutboundPolicy, parseAllowedHosts } from './policy.js';

const KEY = 'component.api.allowed_outbound_hosts';

function errorsOf(entries: unknown): string[] {
  const r = parseAllowedHosts(entries, KEY);
  assert.ok('errors' in r, `expected errors for ${JSON.stringify(entries)}`);
  return r.errors;
}

function match(entries: string[], url: string): { allowed: boolean; explicit: boolean } {
  return createOutboundPolicy(entries).matches(new URL(url));
}

describe('parseAllowedHosts', () => {
  test('accepts the Spin-style examples', () => {
    const r = parseAllowedHosts(
      ['https://api.example.com', 'http://127.0.0.1:*', 'https://*.example.com', 'http://localhost:8080', '*://api.example.com:*', '*://*:*', 'http://[::1]:8080', 'https://*'],
      KEY,
    );
    assert.ok('policy' in r);
    assert.equal(r.policy.entries.length, 8);
  });

  test('an error names the key path, the index and the entry and says what was expected', () => {
    const errors = errorsOf(['https://ok.example.com', 'https://ok2.example.com', 'ftp://x']);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /^component\.api\.allowed_outbound_hosts\[2\]: expected scheme:\/\/host\[:port\] with scheme http, https, postgres, redis, rediss or \*, got "ftp:\/\/x"$/);
  });

  test('every bad entry is reported, not only the first', () => {
    const errors = errorsOf(['api.example.com', 'https://a.com/v1', 'https://a.com:0', 'https://a.com:99999', 'https://user@a.com', 42]);
    assert.equal(errors.length, 6);
    assert.match(errors[0]!, /\[0\]: expected scheme:\/\/host\[:port\] \(for example .*\), got "api\.example\.com"/);
    assert.match(errors[1]!, /\[1\]: expected .* no path, query or fragment, got "https:\/\/a\.com\/v1"/);
    assert.match(errors[2]!, /\[2\]: expected .* a port from 1 to 65535 or \*, got "https:\/\/a\.com:0"/);
    assert.match(errors[3]!, /\[3\]: expected .* a port from 1 to 65535 or \*, got "https:\/\/a\.com:99999"/);
    assert.match(errors[4]!, /\[4\]: expected .* no user info, got "https:\/\/user@a\.com"/);
    assert.match(errors[5]!, /\[5\]: expected a string scheme:\/\/host\[:port\] .*, got the float 42/);
  });

  test('malformed hosts and wildcards are refused', () => {
    const bad = [
      'https://',
      'https://a..com',
      'https://-a.com',
      'https://a.com.',
      'https://api.*.com',
      'https://*api.com',
      'https://*.',
      'http://::1',
      'http://[::1',
      'http://[not-ip]',
      'http://127.1',
      'http://a.com:',
      'http://a b.com',
      'https://a.com?x=1',
      'https://a.com#f',
    ];
    const errors = errorsOf(bad);
    assert.equal(errors.length, bad.length, errors.join('\n'));
    errors.forEach((e, i) => assert.ok(e.startsWith(`${KEY}[${i}]: expected `) && e.endsWith(`got ${JSON.stringify(bad[i])}`), e));
  });

  test('a value that is not an array is an error naming the key', () => {
    const errors = errorsOf('https://api.example.com');
    assert.deepEqual(errors, [`${KEY}: expected an array of strings like ["https://api.example.com"], got the string "https://api.example.com"`]);
  });

  test('an empty list allows nothing', () => {
    const r = parseAllowedHosts([], KEY);
    assert.ok('policy' in r);
    assert.deepEqual(r.policy.matches(new URL('https://api.example.com/')), { allowed: false, explicit: false });
    assert.deepEqual(OutboundPolicy.denyAll.matches(new URL('http://127.0.0.1/')), { allowed: false, explicit: false });
  });
});

describe('OutboundPolicy.matches', () => {
  test('a literal host matches only its scheme and default port, and is explicit', () => {
    const entries = ['https://api.example.com'];
    assert.deepEqual(match(entries, 'https://api.example.com/v1?x=1'), { allowed: true, explicit: true });
    assert.deepEqual(match(entries, 'https://API.Example.com:443/'), { allowed: true, explicit: true });
    assert.equal(match(entries, 'http://api.example.com/').allowed, false);
    assert.equal(match(entries, 'https://api.example.com:8443/').allowed, false);
    assert.equal(match(entries, 'https://other.example.com/').allowed, false);
    assert.equal(match(entries, 'https://api.example.com.evil.com/').allowed, false);
  });

  test('a port wildcard allows any port', () => {
    assert.deepEqual(match(['http://127.0.0.1:*'], 'http://127.0.0.1:1234/'), { allowed: true, explicit: true });
    assert.deepEqual(match(['http://127.0.0.1:*'], 'http://127.0.0.1/'), { allowed: true, explicit: true });
    assert.equal(match(['http://127.0.0.1:*'], 'https://127.0.0.1/').allowed, false);
  });

  test('an explicit port must be the port of the URL', () => {
    assert.equal(match(['http://localhost:8080'], 'http://localhost:8080/').allowed, true);
    assert.equal(match(['http://localhost:8080'], 'http://localhost/').allowed, false);
    assert.equal(match(['https://a.com:443'], 'https://a.com/').allowed, true);
  });

  test('a subdomain wildcard matches subdomains at any depth but not the domain itself, and is not explicit', () => {
    const entries = ['https://*.example.com'];
    assert.deepEqual(match(entries, 'https://api.example.com/'), { allowed: true, explicit: false });
    assert.deepEqual(match(entries, 'https://a.b.example.com/'), { allowed: true, explicit: false });
    assert.equal(match(entries, 'https://example.com/').allowed, false);
    assert.equal(match(entries, 'https://badexample.com/').allowed, false);
  });

  test('a scheme wildcard uses the default port of the scheme of the URL', () => {
    assert.equal(match(['*://api.example.com'], 'http://api.example.com/').allowed, true);
    assert.equal(match(['*://api.example.com'], 'https://api.example.com/').allowed, true);
    assert.equal(match(['*://api.example.com'], 'https://api.example.com:80/').allowed, false);
    assert.equal(match(['*://api.example.com:*'], 'https://api.example.com:80/').allowed, true);
  });

  test('the host wildcard allows every host but never explicitly', () => {
    assert.deepEqual(match(['*://*:*'], 'http://127.0.0.1:9/'), { allowed: true, explicit: false });
    assert.deepEqual(match(['http://*:*'], 'http://[::1]:9/'), { allowed: true, explicit: false });
  });

  test('a literal entry makes the match explicit even when a wildcard entry also matches', () => {
    assert.deepEqual(match(['*://*:*', 'http://localhost:*'], 'http://localhost:3000/'), { allowed: true, explicit: true });
  });

  test('IPv6 and internationalised hosts are compared in their canonical form', () => {
    assert.deepEqual(match(['http://[0:0:0:0:0:0:0:1]:*'], 'http://[::1]:8080/'), { allowed: true, explicit: true });
    assert.deepEqual(match(['https://bücher.example'], 'https://xn--bcher-kva.example/'), { allowed: true, explicit: true });
  });

  test('IPv4 spellings the URL parser normalises match the dotted entry', () => {
    assert.deepEqual(match(['http://127.0.0.1:*'], 'http://2130706433:80/'), { allowed: true, explicit: true });
  });

  test('a postgres entry allows its host on port 5432 unless it names a port; http entries never allow postgres', () => {
    const policy = createOutboundPolicy(['postgres://db.internal', 'postgres://127.0.0.1:6543']);
    assert.deepEqual(policy.allows('postgres', 'db.internal', 5432), { allowed: true, explicit: true });
    assert.equal(policy.allows('postgres', 'db.internal', 5433).allowed, false);
    assert.equal(policy.allows('postgres', '127.0.0.1', 6543).allowed, true);
    assert.equal(policy.allows('http', 'db.internal', 5432).allowed, false);
    assert.equal(createOutboundPolicy(['http://*:*']).allows('postgres', 'db', 5432).allowed, false);
    assert.deepEqual(createOutboundPolicy(['*://db:*']).allows('postgres', 'db', 5432), { allowed: true, explicit: true });
  });

  test('only the schemes an entry may name can match', () => {
    assert.equal(match(['*://*:*'], 'ftp://example.com/').allowed, false);
    assert.equal(match(['*://*:*'], 'file:///etc/passwd').allowed, false);
    assert.equal(match(['*://*:*'], 'redis://cache:6379').allowed, true);
  });

  test('redis and rediss entries match a Redis address by scheme, host and port (6379 when left out)', () => {
    assert.deepEqual(match(['redis://cache.internal'], 'redis://cache.internal:6379'), { allowed: true, explicit: true });
    assert.equal(match(['redis://cache.internal'], 'redis://cache.internal:6380').allowed, false);
    assert.equal(match(['redis://cache.internal'], 'rediss://cache.internal:6379').allowed, false);
    assert.equal(match(['rediss://*.example.com:*'], 'rediss://a.example.com:6380').allowed, true);
    assert.equal(match(['https://cache.internal'], 'redis://cache.internal:443').allowed, false);
    assert.equal(match(['redis://cache.internal'], 'http://cache.internal:6379/').allowed, false);
  });
});
