import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOf, internalUrlTarget, parseHostPattern } from './hosts.js';

test('host patterns are exact names or a leading wildcard label, compared in lower case', () => {
  assert.deepEqual(parseHostPattern('API.Example.com'), { kind: 'exact', host: 'api.example.com' });
  assert.deepEqual(parseHostPattern('*.example.org'), { kind: 'suffix', suffix: '.example.org' });
});

test('a port, an inner wildcard or a bad label is refused with a sentence', () => {
  assert.match(parseHostPattern('api.example.com:8080') as string, /without a port/);
  assert.match(parseHostPattern('a.*.example.org') as string, /first label/);
  assert.match(parseHostPattern('bad_host.example') as string, /host name such as/);
  assert.match(parseHostPattern('') as string, /host name such as/);
});

test('the Host header is matched by name: case and port are ignored', () => {
  assert.equal(hostOf('API.example.com:8080'), 'api.example.com');
  assert.equal(hostOf('[::1]:3000'), '[::1]');
  assert.equal(hostOf(undefined), undefined);
});

test('a URL names a chained call by its host under verge.internal, in any case or percent-encoding; any other URL, malformed ones included, names none', () => {
  assert.equal(internalUrlTarget('http://auth.verge.internal/users/7?full=1'), 'auth');
  assert.equal(internalUrlTarget('HTTP://Next.Verge.Internal:80/'), 'next');
  assert.equal(internalUrlTarget('http://auth.verge%2Einternal/'), 'auth');
  assert.equal(internalUrlTarget('http://verge.internal/'), '');
  assert.equal(internalUrlTarget('http://a.b.verge.internal/'), '');
  assert.equal(internalUrlTarget('https://example.com/verge.internal'), undefined);
  assert.equal(internalUrlTarget('http://[verge.internal/'), undefined);
});
