/**
 * The Redis store against a real redis-server (test/support/redis-server.ts): the shared store
 * contract, with and without a key prefix, then what only a network store has — a server that is
 * down, killed mid-call, stopped (slow), protected by a password, serving TLS.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { storeContract } from '../contract.js';
import { storeCallDeadline } from '../deadline.js';
import { StoreError, type KvStore, type StoreErrorReason } from '../store.js';
import { parseRedisAddress, type RedisAddress } from './address.js';
import { REDIS_STORE_DEFAULTS, createRedisStore, type RedisStoreOptions } from './redis-store.js';
import { startRedis, type RedisServer } from '../../../test/support/redis-server.js';
import { selfSigned, tempDir } from '../../../test/support/tls.js';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));

function address(url: string): RedisAddress {
  const a = parseRedisAddress(url);
  if (typeof a === 'string') throw new Error(`${url}: expected ${a}`);
  return a;
}

function store(url: string, options: Partial<RedisStoreOptions> = {}): KvStore {
  return createRedisStore({ address: address(url), prefix: '', ...REDIS_STORE_DEFAULTS, ...options });
}

async function rejectsWith(promise: Promise<unknown>, reason: StoreErrorReason, message?: RegExp): Promise<StoreError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => ((caught = err), true));
  assert.ok(caught instanceof StoreError, `expected a StoreError, got ${String(caught)}`);
  assert.equal(caught.reason, reason, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

let server: RedisServer;
before(async () => {
  server = await startRedis();
});
after(async () => {
  await server?.stop();
});

let stores = 0;
storeContract('redis (a key prefix per test)', async () => store(server.url, { prefix: `contract-${++stores}:` }));
// Without a prefix the store owns the database: database 1 is flushed after each test.
storeContract(
  'redis (no prefix, database 1)',
  async () => store(`${server.url}/1`),
  async () => {
    await server.cli('-n', '1', 'FLUSHDB');
  },
);

describe('redis store on a real server', () => {
  test('keys live in Redis as they are, under the prefix, readable by other clients', async () => {
    const s = store(server.url, { prefix: 'app:cache:' });
    await s.set('greeting', bytes('hello'));
    assert.equal(await server.cli('GET', 'app:cache:greeting'), 'hello');
    await server.cli('SET', 'app:cache:from-cli', '41');
    assert.equal(await s.increment('from-cli', 1n), 42n);
    assert.deepEqual(await s.listKeys('', undefined, 10), ['from-cli', 'greeting']);
    await s.close();
  });

  test('a glob character in the prefix matches only itself when listing keys', async () => {
    const s = store(server.url, { prefix: 'glob:' });
    for (const key of ['a*b/1', 'a*b/2', 'axb/1', 'a?c', 'a[b]']) await s.set(key, bytes('v'));
    assert.deepEqual(await s.listKeys('a*b/', undefined, 10), ['a*b/1', 'a*b/2']);
    assert.deepEqual(await s.listKeys('a[', undefined, 10), ['a[b]']);
    assert.deepEqual(await s.listKeys('a?', undefined, 10), ['a?c']);
    await s.close();
  });

  test('listing pages through more keys than one SCAN round returns, in byte order', async () => {
    const s = store(server.url, { prefix: 'many:' });
    const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(5, '0')}`);
    await Promise.all(keys.map((k) => s.set(k, bytes('v'))));
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await s.listKeys('', cursor, 1000);
      if (page.length === 0) break;
      seen.push(...page);
      cursor = page.at(-1);
    }
    assert.deepEqual(seen, keys);
    await s.close();
  });

  test('a value Redis holds as another type is refused, not misread: get UNAVAILABLE, increment NOT_A_NUMBER', async () => {
    const s = store(server.url, { prefix: 'types:' });
    await server.cli('HSET', 'types:h', 'field', '1');
    await rejectsWith(s.get('h'), 'UNAVAILABLE', /WRONGTYPE/);
    await rejectsWith(s.increment('h', 1n), 'NOT_A_NUMBER');
    // The connection that got the error reply is still good.
    await s.set('ok', bytes('1'));
    assert.equal(text(await s.get('ok')), '1');
    await s.close();
  });

  test('a value larger than the reply cap (written by another client) fails that call only', async () => {
    const s = store(server.url, { prefix: 'big:' });
    const file = path.join(tempDir(), 'big.bin');
    writeFileSync(file, Buffer.alloc(2 * 1024 * 1024, 0x61));
    const { execFileSync } = await import('node:child_process');
    execFileSync('redis-cli', ['-p', String(server.port), '-x', 'SET', 'big:huge'], { input: readFileSync(file) });
    await rejectsWith(s.get('huge'), 'UNAVAILABLE', /larger than \d+ bytes \(the reply cap\)/);
    await s.set('small', bytes('fine'));
    assert.equal(text(await s.get('small')), 'fine');
    await s.close();
  });

  test('a database number in the URL selects that database', async () => {
    const s = store(`${server.url}/3`);
    await s.set('db-key', bytes('in three'));
    assert.equal(await server.cli('-n', '3', 'GET', 'db-key'), 'in three');
    assert.equal(await server.cli('-n', '0', 'EXISTS', 'db-key'), '0');
    await s.close();
  });
});

describe('redis store when the server is in trouble', () => {
  test('a server that is not running fails each call at once with UNAVAILABLE naming the address', async () => {
    const down = await startRedis();
    await down.stop();
    const s = store(down.url);
    const started = Date.now();
    const err = await rejectsWith(s.get('k'), 'UNAVAILABLE', /cannot connect to redis:\/\/127\.0\.0\.1:\d+: connection refused/);
    assert.ok(Date.now() - started < 2000, 'refused at once, not after a timeout');
    assert.doesNotMatch(err.message, /password/);
    await s.close();
  });

  test('a server that stops answering (SIGSTOP) costs a TIMEOUT after the store timeout, and the request deadline wins when sooner', async () => {
    const slow = await startRedis();
    const s = store(slow.url, { timeoutMs: 300 });
    try {
      await s.set('k', bytes('v'));
      slow.pause();
      let started = Date.now();
      await rejectsWith(s.get('k'), 'TIMEOUT', /did not answer within \d+ ms/);
      const took = Date.now() - started;
      assert.ok(took >= 250 && took < 3000, `took ${took} ms`);
      // A request with 100 ms left bounds the call tighter than the store's 300 ms.
      started = Date.now();
      await rejectsWith(storeCallDeadline.run(Date.now() + 100, () => s.get('k')), 'TIMEOUT');
      assert.ok(Date.now() - started < 280, `the request's deadline bounded it: ${Date.now() - started} ms`);
      slow.resume();
      // The connections that timed out were dropped; fresh ones answer.
      assert.equal(text(await s.get('k')), 'v');
    } finally {
      slow.resume();
      await s.close();
      await slow.stop();
    }
  });

  test('a server killed mid-call fails that call cleanly, and the pool reconnects once it is back', async () => {
    const flaky = await startRedis();
    const s = store(flaky.url, { timeoutMs: 5000 });
    try {
      await s.set('k', bytes('before'));
      flaky.pause();
      const pending = rejectsWith(s.get('k'), 'UNAVAILABLE', /closed|reset/);
      await new Promise((r) => setTimeout(r, 100));
      await flaky.kill();
      await pending;
      await rejectsWith(s.get('k'), 'UNAVAILABLE', /connection refused/);
      await flaky.restart();
      await s.set('k', bytes('after'));
      assert.equal(text(await s.get('k')), 'after');
    } finally {
      await s.close();
      await flaky.stop();
    }
  });

  test('a password in the URL is sent with AUTH; a wrong one is refused without being repeated', async () => {
    const locked = await startRedis({ password: 's3cret-pass' });
    try {
      const good = store(`redis://:s3cret-pass@127.0.0.1:${locked.port}`);
      await good.set('k', bytes('v'));
      assert.equal(text(await good.get('k')), 'v');
      await good.close();
      const wrong = store(`redis://:not-the-pass@127.0.0.1:${locked.port}`);
      const err = await rejectsWith(wrong.get('k'), 'UNAVAILABLE', /refused the credentials in its URL: WRONGPASS/);
      assert.doesNotMatch(err.message, /not-the-pass/);
      await wrong.close();
      const none = store(locked.url);
      await rejectsWith(none.get('k'), 'UNAVAILABLE', /NOAUTH/);
      await none.close();
    } finally {
      await locked.stop();
    }
  });

  test('rediss:// connects over TLS and verifies the certificate against the host name', async () => {
    const certs = selfSigned(tempDir());
    const secure = await startRedis({ tls: certs });
    try {
      const s = store(`rediss://localhost:${secure.port}`, { ca: certs.pem });
      await s.set('k', bytes('over tls'));
      assert.equal(text(await s.get('k')), 'over tls');
      await s.close();
      // Without trusting the certificate the handshake fails: no fallback to plain text.
      const untrusted = store(`rediss://localhost:${secure.port}`);
      await rejectsWith(untrusted.get('k'), 'UNAVAILABLE', /self.signed|certificate/i);
      await untrusted.close();
    } finally {
      await secure.stop();
    }
  });
});
