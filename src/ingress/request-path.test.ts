import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isVergeError } from '../errors.js';
import { parseRequestTarget } from './request-path.js';
import { Router, parsePattern, type RoutePattern } from './router.js';

/** [request target, normalised path + query] */
const NORMALISED: Array<[string, string]> = [
  ['/', '/'],
  ['/files/a.txt', '/files/a.txt'],
  ['/files/a/', '/files/a/'],
  ['/files/../admin/secret', '/admin/secret'],
  ['/files/a/../../admin', '/admin'],
  ['/files/./../admin', '/admin'],
  ['/files/%2e%2e/admin', '/admin'],
  ['/files/%2E%2E/admin', '/admin'],
  ['/files/.%2e/admin', '/admin'],
  ['/files/%2e./admin', '/admin'],
  ['/files/%2e/a', '/files/a'],
  ['/files/a/.', '/files/a/'],
  ['/files/a/..', '/files/'],
  ['/files/..', '/'],
  ['/.', '/'],
  ['/files//a', '/files/a'],
  ['//files///a//', '/files/a/'],
  ['/files/a//../b', '/files/b'],
  // Only a whole segment of dots is a dot segment; dots inside a name are the name's.
  ['/files/a..b', '/files/a..b'],
  ['/files/...', '/files/...'],
  ['/files/a%2eb', '/files/a%2eb'],
  ['/files/%2e%2e%2e', '/files/%2e%2e%2e'],
  ['/files/..a', '/files/..a'],
  // Other escapes pass through as received.
  ['/files/a%20b', '/files/a%20b'],
  ['/files/%252e%252e/x', '/files/%252e%252e/x'],
  // The query is the client's, untouched, even when it holds what a path may not.
  ['/files/../a?x=/../..&y=%2f', '/a?x=/../..&y=%2f'],
  ['/a?', '/a?'],
  ['/a#frag', '/a'],
  ['/a?q=1#frag', '/a?q=1'],
];

/** [request target, why it is refused] */
const REFUSED: Array<[string, RegExp]> = [
  ['/..', /climbs above/],
  ['/../admin', /climbs above/],
  ['/files/../../admin', /climbs above/],
  ['/files/a/../../../admin', /climbs above/],
  ['/%2e%2e/admin', /climbs above/],
  ['/files/%2e%2e/%2E%2E/admin', /climbs above/],
  ['/files/..%2fadmin', /encoded "\/"/],
  ['/files/..%2Fadmin', /encoded "\/"/],
  ['/files/a%2fb', /encoded "\/"/],
  ['/files/..%5cadmin', /encoded "\/" or "\\"/],
  ['/files/a%5Cb', /encoded "\/" or "\\"/],
  ['/files/..\\admin', /contains "\\"/],
  ['/files\\a', /contains "\\"/],
];

function refusal(target: string): { code: string; message: string } {
  try {
    parseRequestTarget(target);
  } catch (err) {
    if (isVergeError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  assert.fail(`${target} was accepted`);
}

describe('request paths', () => {
  for (const [target, expected] of NORMALISED) {
    test(`${target} is routed as ${expected}`, () => {
      const { path, query, authority } = parseRequestTarget(target);
      assert.equal(path + query, expected);
      assert.equal(authority, undefined);
    });
  }

  for (const [target, why] of REFUSED) {
    test(`${target} is refused with PATH_NOT_ALLOWED`, () => {
      const { code, message } = refusal(target);
      assert.equal(code, 'PATH_NOT_ALLOWED');
      assert.match(message, why);
      assert.ok(message.includes(JSON.stringify(target)), message);
    });
  }

  test('an absolute-form target is routed by its path, and its authority is the host', () => {
    assert.deepEqual(parseRequestTarget('http://example.com:8080/files/../a/b?x=1'), { path: '/a/b', query: '?x=1', authority: 'example.com:8080' });
    assert.deepEqual(parseRequestTarget('HTTPS://[::1]:443'), { path: '/', query: '', authority: '[::1]:443' });
    assert.deepEqual(parseRequestTarget('http://h?q'), { path: '/', query: '?q', authority: 'h' });
  });

  test('an absolute-form target is held to the same path rules', () => {
    assert.equal(refusal('http://h/../x').code, 'PATH_NOT_ALLOWED');
    assert.equal(refusal('http://h/a%2fb').code, 'PATH_NOT_ALLOWED');
  });

  test('a target that is neither a path nor an http URL, or that names a user, is a BAD_REQUEST', () => {
    for (const target of ['*', 'example.com/a', 'ftp://h/a', 'http:///a', 'http://user:pw@h/a']) {
      assert.equal(refusal(target).code, 'BAD_REQUEST', target);
    }
  });

  test('a route parameter never decodes to a value holding "/" or "\\" or to a dot segment', () => {
    const router = new Router<string>();
    router.add(parsePattern('/users/:id/files/...') as RoutePattern, 'files');
    router.add(parsePattern('/users/:id') as RoutePattern, 'user');
    const spellings = ['..', '.', '%2e%2e', '.%2e', '%2e', '..%2f', '%2f', '%5c', 'a%2Fb', '..\\', '%2e%2e%2fadmin'];
    for (const s of spellings) {
      for (const target of [`/users/${s}`, `/users/${s}/files/x`, `/users/7/files/${s}`]) {
        let path: string;
        try {
          path = parseRequestTarget(target).path;
        } catch (err) {
          assert.ok(isVergeError(err, 'PATH_NOT_ALLOWED'), `${target}: ${String(err)}`);
          continue;
        }
        const match = router.match(path);
        for (const [, value] of match?.params ?? []) {
          assert.ok(!/[/\\]/.test(value) && value !== '.' && value !== '..', `${target} gave the parameter ${JSON.stringify(value)}`);
        }
        assert.ok(!/(^|\/)\.\.?(\/|$)/.test(match?.pathInfo ?? ''), `${target} gave PATH_INFO ${match?.pathInfo}`);
      }
    }
  });
});
