/**
 * The CGI response parser against whatever a guest may write to stdout: every output ends as a
 * response node:http accepts, or as GUEST_BAD_RESPONSE / RESPONSE_TOO_LARGE, never another
 * exception (`npm run fuzz` runs it longer).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { isVergeError } from '../../errors.js';
import { fuzzParameters } from '../../../test/support/fuzz.js';
import { HOP_BY_HOP, parseCgiResponse } from './cgi.js';

function parsesOrExplains(out: Uint8Array, cap: number): void {
  let response;
  try {
    response = parseCgiResponse(out, cap);
  } catch (err) {
    assert.ok(isVergeError(err), `not a VergeError: ${err instanceof Error ? err.stack : String(err)}`);
    assert.ok(err.code === 'GUEST_BAD_RESPONSE' || err.code === 'RESPONSE_TOO_LARGE', err.code);
    assert.ok(err.message.length > 0 && err.message.length < 400 && !/[\r\n]/.test(err.message), `an unclear or multi-line message: ${JSON.stringify(err.message)}`);
    return;
  }
  assert.ok(Number.isInteger(response.status) && response.status >= 200 && response.status <= 599, `status ${response.status}`);
  assert.equal(response.headers.length % 2, 0);
  for (let i = 0; i < response.headers.length; i += 2) {
    const name = response.headers[i]!;
    const value = response.headers[i + 1]!;
    validateHeaderName(name);
    validateHeaderValue(name, value);
    assert.ok(!HOP_BY_HOP.has(name.toLowerCase()) && name.toLowerCase() !== 'status', `${name} was passed through`);
  }
  assert.ok(response.body.length <= cap);
  assert.deepEqual(Buffer.from(response.body), Buffer.from(out.subarray(out.length - response.body.length)), 'the body is the end of stdout');
}

const latin1 = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const NAMES = ['content-type', 'Content-Type', 'status', 'Status', 'location', 'x-a', 'set-cookie', 'connection', 'transfer-encoding', 'x-request-id', 'content-length', 'bad name', '', ':', 'é'];
const VALUES = ['text/plain', '200', '201 Created', '404', '99', '600', '2000', ' 302 ', '/next', 'a\rb', 'a\0b', '\t', '\x7f', 'ÿ', '', 'chunked'];
const headerName = fc.oneof(fc.constantFrom(...NAMES), fc.string({ maxLength: 6 }));
const headerValue = fc.oneof(fc.constantFrom(...VALUES), fc.string({ maxLength: 8 }));
const lineEnd = fc.constantFrom('\n', '\r\n', '\r', '');
const headerLine = fc.tuple(headerName, fc.constantFrom(':', ': ', ' : ', ''), headerValue, lineEnd).map((p) => p.join(''));
const cgiOutput = fc
  .tuple(fc.array(headerLine, { maxLength: 6 }), fc.constantFrom('\n', '\r\n', ''), fc.uint8Array({ maxLength: 64 }))
  .map(([lines, blank, body]) => {
    const head = latin1(lines.join('') + blank);
    const out = new Uint8Array(head.length + body.length);
    out.set(head);
    out.set(body, head.length);
    return out;
  });
const cap = fc.oneof(fc.constant(1024 * 1024), fc.nat(64));

describe('parseCgiResponse under fuzzing', () => {
  test('random bytes parse to a response node:http accepts or a guest error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), cap, parsesOrExplains), fuzzParameters());
  });

  test('CGI-shaped output with random names, values, line ends and caps parses to a response node:http accepts or a guest error', () => {
    fc.assert(fc.property(cgiOutput, cap, parsesOrExplains), fuzzParameters());
  });
});
