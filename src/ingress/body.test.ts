import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { PassThrough } from 'node:stream';
import { isVergeError } from '../errors.js';
import { readBody, type BodySource } from './body.js';

function source(headers: IncomingHttpHeaders = {}): PassThrough & BodySource {
  return Object.assign(new PassThrough(), { headers });
}

async function refusal(body: Promise<Uint8Array>, code: 'PAYLOAD_TOO_LARGE' | 'REQUEST_TIMEOUT' | 'BAD_REQUEST'): Promise<string> {
  const err = await body.then(
    () => assert.fail(`expected ${code}, the body was read`),
    (e: unknown) => e,
  );
  assert.ok(isVergeError(err, code), `expected ${code}, got ${String(err)}`);
  return err.message;
}

describe('request bodies', () => {
  test('a request that says no body follows reads as empty without waiting for the stream', async () => {
    assert.equal((await readBody(source(), 10, { present: false })).length, 0);
  });

  test('a body without content-length is read to its end', async () => {
    const req = source();
    const body = readBody(req, 10, { present: true });
    req.end('hello');
    assert.equal(Buffer.from(await body).toString(), 'hello');
  });

  test('a declared content-length over the limit is refused before a byte is read', async () => {
    assert.match(await refusal(readBody(source({ 'content-length': '11' }), 10, { present: true }), 'PAYLOAD_TOO_LARGE'), /declares 11 bytes; this route accepts at most 10 bytes/);
  });

  test('a body that passes the limit while streaming is refused then', async () => {
    const req = source();
    const body = readBody(req, 10, { present: true });
    req.write('x'.repeat(11));
    assert.match(await refusal(body, 'PAYLOAD_TOO_LARGE'), /passed 10 bytes while streaming/);
  });

  test('a body not complete within timeoutMs is REQUEST_TIMEOUT', async () => {
    const req = source();
    const body = readBody(req, 10, { present: true, timeoutMs: 20 });
    req.write('part');
    assert.match(await refusal(body, 'REQUEST_TIMEOUT'), /not received within 20 ms of its headers/);
  });

  test('a request the client reset is refused, never handed on truncated', async () => {
    const req = source();
    const body = readBody(req, 10, { present: true });
    req.write('part');
    await new Promise((r) => setImmediate(r));
    req.emit('aborted');
    req.end();
    assert.match(await refusal(body, 'BAD_REQUEST'), /reset the request after 4 bytes of its body/);
  });

  test('a request closed before its body ended, without a word of why, is refused too', async () => {
    const req = source();
    const body = readBody(req, 10, { present: true });
    req.write('part');
    await new Promise((r) => setImmediate(r));
    req.destroy();
    assert.match(await refusal(body, 'BAD_REQUEST'), /reset the request after 4 bytes of its body/);
  });
});
