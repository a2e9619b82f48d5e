import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BodyBuffer, Fields, FutureIncomingResponse, FutureTrailers, IncomingBody, IncomingRequest, OutgoingBody, createOutgoingTypes, methodName, methodOf } from './wasi-http.js';
import { InputStream, OutputStream, Pollable, ok, poll } from './wasi-io.js';

const { OutgoingResponse } = createOutgoingTypes(() => ({ response: 32 * 1024 * 1024, outgoingRequest: 10 * 1024 * 1024 }));

const bytes = (s: string) => new TextEncoder().encode(s);

describe('wasi:http fields', () => {
  test('keeps names lower-cased and values in order, and answers get, has and entries', () => {
    const r = Fields.fromList([
      ['Content-Type', bytes('text/plain')],
      ['X-Many', bytes('a')],
      ['x-many', bytes('b')],
    ]);
    assert.equal(r.tag, 'ok');
    const f = r.val as Fields;
    assert.deepEqual(f.get('X-MANY'), [bytes('a'), bytes('b')]);
    assert.ok(f.has('content-type'));
    assert.deepEqual(
      f.entries().map(([k]) => k),
      ['content-type', 'x-many', 'x-many'],
    );
  });

  test('refuses an invalid name, a forbidden header and a value with CR or LF', () => {
    assert.deepEqual(Fields.fromList([['bad name', bytes('x')]]), { tag: 'err', val: { tag: 'invalid-syntax' } });
    assert.deepEqual(Fields.fromList([['Connection', bytes('close')]]), { tag: 'err', val: { tag: 'forbidden' } });
    assert.deepEqual(Fields.fromList([['x-a', bytes('a\r\nb: c')]]), { tag: 'err', val: { tag: 'invalid-syntax' } });
    const f = new Fields();
    assert.deepEqual(f.append('host', bytes('evil')), { tag: 'err', val: { tag: 'forbidden' } });
  });

  test('set replaces every value of a name, delete removes them', () => {
    const f = new Fields();
    f.append('x-a', bytes('1'));
    f.append('x-a', bytes('2'));
    assert.deepEqual(f.set('x-a', [bytes('3')]), ok(undefined));
    assert.deepEqual(f.get('x-a'), [bytes('3')]);
    f.delete('X-A');
    assert.equal(f.has('x-a'), false);
  });

  test('headers handed to a response become immutable; a clone is mutable again', () => {
    const f = new Fields();
    const response = new OutgoingResponse(f);
    assert.deepEqual(response.headers().append('x-late', bytes('1')), { tag: 'err', val: { tag: 'immutable' } });
    assert.deepEqual(response.headers().clone().append('x-late', bytes('1')), ok(undefined));
  });
});

describe('wasi:http requests, responses and bodies', () => {
  test('an incoming request gives its body once, as a stream that ends with closed', () => {
    const req = new IncomingRequest({ method: methodOf('PATCH'), pathWithQuery: '/a?b=1', scheme: { tag: 'HTTP' }, authority: 'h:1', headers: new Fields(), body: bytes('hello') });
    assert.deepEqual(req.method(), { tag: 'patch' });
    const body = req.consume();
    assert.equal(body.tag, 'ok');
    assert.equal(req.consume().tag, 'err');
    const stream = (body.val as IncomingBody).stream().val as InputStream;
    assert.deepEqual(stream.read(3n), ok(bytes('hel')));
    assert.deepEqual(stream.read(100n), ok(bytes('lo')));
    assert.deepEqual(stream.read(1n), { tag: 'err', val: { tag: 'closed' } });
  });

  test('an unusual method is passed as other and named back as it was', () => {
    assert.deepEqual(methodOf('PROPFIND'), { tag: 'other', val: 'PROPFIND' });
    assert.equal(methodName({ tag: 'other', val: 'PROPFIND' }), 'PROPFIND');
    assert.equal(methodName({ tag: 'delete' }), 'DELETE');
  });

  test('trailers of an incoming body are none, once', () => {
    const t = new FutureTrailers();
    assert.deepEqual(t.get(), ok(ok(undefined)));
    assert.deepEqual(t.get(), { tag: 'err', val: undefined });
  });

  test('a response body over its cap is refused with last-operation-failed and remembered', () => {
    const body = new OutgoingBody(new BodyBuffer(8, 'response body'));
    const stream = body.write().val as OutputStream;
    assert.deepEqual(stream.write(bytes('12345')), ok(undefined));
    const over = stream.write(bytes('6789'));
    assert.equal(over.tag, 'err');
    assert.equal(body.buffer.overflow, 'the response body is over 8 bytes');
    assert.deepEqual(stream.write(bytes('x')), { tag: 'err', val: { tag: 'closed' } });
    assert.deepEqual(new Uint8Array(body.buffer.bytes()), bytes('12345'));
    assert.equal(body.write().tag, 'err', 'the stream is handed out once');
  });

  test('a status code outside 100-999 is refused', () => {
    const r = new OutgoingResponse(new Fields());
    assert.equal(r.setStatusCode(99).tag, 'err');
    assert.equal(r.setStatusCode(1000).tag, 'err');
    assert.deepEqual(r.setStatusCode(201), ok(undefined));
    assert.equal(r.statusCode(), 201);
  });

  test('an outbound response is ready only once its request is complete, and is sent once', () => {
    let complete = false;
    let sent = 0;
    const future = new FutureIncomingResponse(() => {
      sent++;
      return { tag: 'err', val: { tag: 'HTTP-request-denied' } };
    }, () => complete);
    assert.equal(future.subscribe().ready(), false);
    complete = true;
    assert.equal(future.subscribe().ready(), true);
    assert.deepEqual(future.get(), ok({ tag: 'err', val: { tag: 'HTTP-request-denied' } }));
    assert.deepEqual(future.get(), { tag: 'err', val: undefined });
    assert.equal(sent, 1);
  });
});

describe('wasi:io poll', () => {
  test('returns the ready pollables without waiting', () => {
    const later = new Pollable(process.hrtime.bigint() + 10_000_000_000n);
    assert.deepEqual([...poll([later, new Pollable(), later])], [1]);
  });

  test('sleeps until the earliest clock pollable when none is ready', () => {
    const now = process.hrtime.bigint();
    const soon = new Pollable(now + 30_000_000n);
    const late = new Pollable(now + 10_000_000_000n);
    const started = performance.now();
    assert.deepEqual([...poll([late, soon])], [1]);
    const waited = performance.now() - started;
    assert.ok(waited >= 25 && waited < 5000, `waited ${waited} ms`);
  });

  test('gives back everything when what it waits for cannot change (no clock among them)', () => {
    const never = new Pollable(undefined, () => false);
    assert.deepEqual([...poll([never, never])], [0, 1]);
  });
});
