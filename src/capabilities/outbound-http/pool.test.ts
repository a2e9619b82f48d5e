import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeOutboundPool, sendOutbound } from './fetch.js';
import { createOutboundPolicy } from './policy.js';
import { outboundLimits } from './limits.js';

async function server(host: string, port: number, name: string) {
  let connections = 0;
  const s = http.createServer((_req, res) => res.end(name));
  s.on('connection', () => connections++);
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(port, host, () => resolve()));
  return { port: (s.address() as AddressInfo).port, connections: () => connections, close: () => new Promise((r) => s.close(r)) };
}

test('a pooled connection is reused only while DNS gives the same checked address; a new answer gets a new connection', async () => {
  const a = await server('127.0.0.1', 0, 'a');
  const b = await server('127.0.0.2', a.port, 'b');
  let answer = '127.0.0.1';
  const lookup = async () => [{ address: answer, family: 4 }];
  // The host is named literally, so its loopback addresses are allowed.
  const policy = createOutboundPolicy(['http://pool.verge.test:*']);
  // Like a guest's calls, which come a host-bridge round trip apart: the pool has released the
  // connection by then (back to back in one tick it would open a second one).
  const pause = () => new Promise((r) => setTimeout(r, 10));
  const get = () => sendOutbound({ method: 'GET', url: `http://pool.verge.test:${a.port}/`, headers: [], body: new Uint8Array() }, { policy, lookup });
  try {
    assert.equal(Buffer.from((await get()).body).toString(), 'a');
    await pause();
    assert.equal(Buffer.from((await get()).body).toString(), 'a');
    assert.equal(a.connections(), 1, 'the second call reused the first connection');
    answer = '127.0.0.2';
    await pause();
    assert.equal(Buffer.from((await get()).body).toString(), 'b', 'a changed DNS answer never rides the old connection');
    assert.equal(b.connections(), 1);
  } finally {
    await closeOutboundPool();
    await a.close();
    await b.close();
  }
});

test("one component's outbound timeout never applies to another's calls: pooled connections are kept per timeout", async () => {
  const a = await server('127.0.0.1', 0, 'a');
  const lookup = async () => [{ address: '127.0.0.1', family: 4 }];
  const policy = createOutboundPolicy(['http://pool.verge.test:*']);
  const pause = () => new Promise((r) => setTimeout(r, 10));
  const get = (timeoutMs: number) =>
    sendOutbound({ method: 'GET', url: `http://pool.verge.test:${a.port}/`, headers: [], body: new Uint8Array() }, { policy, lookup, limits: outboundLimits({ timeoutMs }) });
  try {
    await get(2000);
    await pause();
    await get(2000);
    assert.equal(a.connections(), 1, 'calls with the same limits share a connection');
    await pause();
    await get(9000);
    assert.equal(a.connections(), 2, 'a component with another timeout got its own pooled client (whose connect timeout is its own)');
  } finally {
    await closeOutboundPool();
    await a.close();
  }
});
