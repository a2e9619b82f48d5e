import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RespError, RespReadError, RespReader, RespStatus, commandBytes, encodeCommand, type RespValue } from './resp.js';

function readAll(wire: string | Buffer, chunkSizes: number[] = [], cap = 1 << 20): RespValue[] {
  const bytes = typeof wire === 'string' ? Buffer.from(wire, 'binary') : wire;
  const out: RespValue[] = [];
  const reader = new RespReader(cap, (v) => out.push(v));
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const size = chunkSizes.length === 0 ? bytes.length : chunkSizes[i++ % chunkSizes.length]!;
    reader.push(bytes.subarray(at, at + size));
    at += size;
  }
  return out;
}

const text = (v: RespValue) => Buffer.from(v as Uint8Array).toString();

describe('RESP2', () => {
  test('a command is an array of bulk strings, binary arguments byte for byte', () => {
    const wire = encodeCommand(['SET', 'k', Uint8Array.of(0, 255, 13, 10)]);
    assert.deepEqual(wire, Buffer.concat([Buffer.from('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n'), Buffer.from([0, 255, 13, 10]), Buffer.from('\r\n')]));
    assert.equal(commandBytes(['SET', 'k', Uint8Array.of(0, 255, 13, 10)]), wire.length);
    assert.equal(commandBytes(['é']), encodeCommand(['é']).length);
  });

  test('every reply type is read: status, error, integer, bulk, nil, arrays nested and empty', () => {
    const wire = '+OK\r\n-WRONGTYPE Operation against a key\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n*1\r\n:1\r\n$0\r\n\r\n';
    const [ok, err, n, bulk, nil, nilArray, empty, nested] = readAll(wire);
    assert.ok(ok instanceof RespStatus && ok.text === 'OK');
    assert.ok(err instanceof RespError);
    assert.equal(err.code, 'WRONGTYPE');
    assert.equal(n, -42n);
    assert.equal(text(bulk!), 'hello');
    assert.equal(nil, null);
    assert.equal(nilArray, null);
    assert.deepEqual(empty, []);
    assert.ok(Array.isArray(nested));
    assert.deepEqual(nested[0], [1n]);
    assert.equal((nested[1] as Uint8Array).length, 0);
  });

  test('replies split at every possible byte boundary read the same as whole', () => {
    const wire = '*3\r\n$4\r\nab\r\n\r\n:7\r\n*2\r\n+x\r\n$-1\r\n:9\r\n';
    const whole = readAll(wire);
    for (let size = 1; size <= wire.length; size++) {
      assert.deepEqual(readAll(wire, [size]), whole, `chunks of ${size}`);
    }
    assert.deepEqual(readAll(wire, [1, 3, 2, 7]), whole);
    assert.equal(text((whole[0] as RespValue[])[0]!), 'ab\r\n');
  });

  test('a bulk string arriving in many chunks is one value, not a view of the chunks', () => {
    const payload = Buffer.alloc(100_000, 7);
    const wire = Buffer.concat([Buffer.from(`$${payload.length}\r\n`), payload, Buffer.from('\r\n')]);
    const [value] = readAll(wire, [4096]);
    assert.ok(value instanceof Uint8Array);
    assert.equal(value.length, payload.length);
    assert.equal(value.byteOffset, 0);
    assert.equal(value.buffer.byteLength, payload.length);
  });

  test('a reply over the cap is refused from its declared length, before its bytes arrive', () => {
    const reader = new RespReader(1000, () => assert.fail('no reply expected'));
    assert.throws(() => reader.push(Buffer.from('$5000\r\n')), (e: unknown) => e instanceof RespReadError && e.kind === 'too-large' && /larger than 1000 bytes/.test(e.message));
    // The reader stays failed: the stream cannot be resynchronised.
    assert.throws(() => reader.push(Buffer.from('+OK\r\n')), RespReadError);
  });

  test('an array declaring more elements than the cap allows is refused at once, and so are many small values', () => {
    assert.throws(() => readAll('*1000000\r\n', [], 10_000), /larger than 10000 bytes/);
    const many = '*200\r\n' + ':1\r\n'.repeat(200);
    assert.throws(() => readAll(many, [], 500), /larger than 500 bytes/);
    // The cap is per reply: the same bytes spread over small replies pass.
    assert.equal(readAll(':1\r\n'.repeat(200), [], 500).length, 200);
  });

  test('bytes that are not RESP are a protocol error', () => {
    assert.throws(() => readAll('HTTP/1.1 400 Bad Request\r\n'), (e: unknown) => e instanceof RespReadError && e.kind === 'protocol');
    assert.throws(() => readAll('$abc\r\n'), /not a number/);
    assert.throws(() => readAll(':1.5\r\n'), /not a number/);
    assert.throws(() => readAll('$2\r\nabXY'), /did not end with CRLF/);
  });
});
