/** The ingress and the pool under pressure: slow clients, oversized headers, a full queue, a drain. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { sleeper, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { startVerge } from '../support/verge-process.js';
import { PIPELINE_DEPTH } from '../../src/dispatch/pool.js';

/** Sends raw bytes on a fresh connection and collects what comes back until the server closes. */
async function rawExchange(url: string, payload: string, opts: { holdOpenMs?: number } = {}): Promise<{ text: string; ms: number }> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await once(socket, 'connect');
  const t0 = Date.now();
  let text = '';
  socket.setEncoding('utf8').on('data', (d: string) => (text += d));
  socket.write(payload);
  const closed = once(socket, 'close');
  const guard = setTimeout(() => socket.destroy(), opts.holdOpenMs ?? 30_000);
  await closed;
  clearTimeout(guard);
  return { text, ms: Date.now() - t0 };
}

describe('ingress limits', () => {
  test('a client that never finishes its headers gets 408 REQUEST_TIMEOUT and is disconnected', async () => {
    const node = await startVerge(writeApp('slowloris', { s: { route: '/...', wasm: await sleeper(0) } }));
    try {
      const { text, ms } = await rawExchange(node.url, 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      assert.match(text, /^HTTP\/1.1 408 /);
      assert.match(text, /"error":"REQUEST_TIMEOUT"/);
      assert.ok(ms < 15_000, `disconnected after ${ms} ms`);
      assert.equal((await fetch(`${node.url}/`)).status, 200, 'other clients are served');
    } finally {
      await node.stop();
    }
  });

  test('headers over 16 KiB get 431 HEADERS_TOO_LARGE', async () => {
    const node = await startVerge(writeApp('headers', { s: { route: '/...', wasm: await sleeper(0) } }));
    try {
      const { text } = await rawExchange(node.url, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      assert.match(text, /^HTTP\/1.1 431 /);
      assert.match(text, /"error":"HEADERS_TOO_LARGE"/);
    } finally {
      await node.stop();
    }
  });

  test('a full admission queue answers 503 QUEUE_FULL with retry-after', async () => {
    const node = await startVerge(writeApp('queue', { s: { route: '/...', wasm: await sleeper(300) } }), ['--workers', '1', '--queue', '2']);
    try {
      const responses = await Promise.all(Array.from({ length: 7 }, () => fetch(`${node.url}/`)));
      const statuses = responses.map((r) => r.status).sort();
      // One runs and two wait in the queue. Up to PIPELINE_DEPTH - 1 more may be posted behind the
      // running guest if they arrive within the pool's take-back bound (5 ms); after that they would
      // be taken back to the queue, so a burst that arrives more slowly finds room for three. The
      // rest are refused.
      const admitted = statuses.filter((s) => s === 200).length;
      assert.ok(admitted >= 3 && admitted <= 2 + PIPELINE_DEPTH, `admitted ${admitted}: ${statuses.join(' ')}`);
      assert.deepEqual(statuses.slice(admitted), Array(7 - admitted).fill(503));
      const refused = responses.find((r) => r.status === 503)!;
      assert.equal(refused.headers.get('retry-after'), '1');
      assert.equal(((await refused.json()) as { error: string }).error, 'QUEUE_FULL');
    } finally {
      await node.stop();
    }
  });

  test('a request posted to a worker behind a looping guest is moved to the replacement worker and succeeds', async () => {
    const loop = await wat(`(module (memory 1) (func (export "_start") (loop $l (br $l))))`);
    const node = await startVerge(
      writeApp('requeue', { loop: { route: '/loop', wasm: loop, limits: 'timeout_ms = 500' }, s: { route: '/ok', wasm: await sleeper(0) } }),
      ['--workers', '1'],
    );
    try {
      const looping = fetch(`${node.url}/loop`);
      await new Promise((r) => setTimeout(r, 50));
      const behind = await fetch(`${node.url}/ok`);
      assert.equal(behind.status, 200);
      assert.equal(await behind.text(), 'slept');
      assert.equal((await looping).status, 504);
    } finally {
      await node.stop();
    }
  });

  test('SIGTERM lets in-flight requests finish, then exits 0', async () => {
    const node = await startVerge(writeApp('drain', { s: { route: '/...', wasm: await sleeper(500) } }));
    const inFlight = fetch(`${node.url}/`).then(async (r) => ({ status: r.status, body: await r.text() }));
    await new Promise((r) => setTimeout(r, 150));
    const code = node.stop();
    assert.deepEqual(await inFlight, { status: 200, body: 'slept' });
    assert.equal(await code, 0);
    assert.match(node.stderr(), /SIGTERM: draining/);
  });
});
