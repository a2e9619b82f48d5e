import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostOf, parseHostPattern } from './hosts.js';

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
