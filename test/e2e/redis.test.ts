/**
 * The Redis capability when the server misbehaves, end to end: `verge up` serving the WAGI probe,
 * real redis-servers that the tests stop (SIGSTOP: the slowest server there is), kill and start
 * again, one serving TLS with a password from a secret variable.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { selfSigned, tempDir } from '../support/tls.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

const PASSWORD = 'redis-secret-0123456789';

describe('redis capability against a server in trouble', () => {
  let node: VergeProcess;
  let main: RedisServer;
  let secure: RedisServer;

  before(async () => {
    const certs = selfSigned(tempDir());
    [main, secure] = await Promise.all([startRedis(), startRedis({ tls: certs, password: PASSWORD })]);
    const wasm = buildCapabilityProbe();
    const grants = 'redis = ["main", "secure", "wrong"]';
    const app = writeApp(
      'redis-trouble',
      {
        // Each Redis call within 400 ms, the request within 10 s.
        quick: { route: '/quick/...', wasm, extra: grants, limits: 'timeout_ms = 10000, outbound_timeout_ms = 400' },
        // The request within 1 s, Redis calls bounded only by it.
        short: { route: '/short/...', wasm, extra: grants, limits: 'timeout_ms = 1000' },
        // Waits long enough for a test to kill the server under it.
        patient: { route: '/patient/...', wasm, extra: grants, limits: 'timeout_ms = 10000, outbound_timeout_ms = 8000' },
      },
      [
        '[variables]',
        'redis_password = { required = true, secret = true }',
        '',
        '[redis.main]',
        `url = "redis://127.0.0.1:${main.port}"`,
        '',
        '[redis.secure]',
        `url = "rediss://:{{ redis_password }}@localhost:${secure.port}/2"`,
        '',
        '[redis.wrong]',
        `url = "redis://:not-the-password@127.0.0.1:${main.port}"`,
      ].join('\n'),
    );
    node = await startVerge(app, ['--workers', '2'], { env: { VERGE_VAR_REDIS_PASSWORD: PASSWORD, NODE_EXTRA_CA_CERTS: certs.cert } });
  });

  after(async () => {
    await node?.stop();
    main?.resume();
    await Promise.all([main?.stop(), secure?.stop()]);
  });

  const call = async (path: string) => {
    const started = Date.now();
    const res = await fetch(`${node.url}${path}`);
    const body = (await res.json()) as Record<string, unknown>;
    return { status: res.status, body, ms: Date.now() - started, id: res.headers.get('x-request-id') };
  };

  test('a server that stops answering costs the call a TIMEOUT after outbound_timeout_ms, and serves again once it resumes', async () => {
    assert.deepEqual((await call('/quick/redis-set?target=main&key=t1&value=before')).body, { value: true });
    main.pause();
    try {
      const stalled = await call('/quick/redis-get?target=main&key=t1');
      assert.deepEqual({ status: stalled.status, ...stalled.body }, { status: 500, error: 'TIMEOUT' });
      assert.ok(stalled.ms >= 350 && stalled.ms < 5000, `answered in ${stalled.ms} ms`);
    } finally {
      main.resume();
    }
    assert.deepEqual((await call('/quick/redis-get?target=main&key=t1')).body, { value: 'before' });
  });

  test('a guest still waiting on a stopped server at its timeout_ms gets 504 DEADLINE_EXCEEDED, and the next request is served', async () => {
    main.pause();
    try {
      const stalled = await call('/short/redis-get?target=main&key=t2');
      assert.equal(stalled.status, 504);
      assert.equal(stalled.body.error, 'DEADLINE_EXCEEDED');
      assert.ok(stalled.ms < 5000, `answered in ${stalled.ms} ms`);
    } finally {
      main.resume();
    }
    assert.deepEqual((await call('/short/redis-set?target=main&key=t2&value=after')).body, { value: true });
    assert.deepEqual((await call('/short/redis-get?target=main&key=t2')).body, { value: 'after' });
  });

  test('a server killed mid-request fails that request cleanly with UNAVAILABLE, and the pool reconnects once it is back', async () => {
    assert.deepEqual((await call('/patient/redis-set?target=main&key=t3&value=v')).body, { value: true });
    main.pause();
    const pending = call('/patient/redis-get?target=main&key=t3');
    await new Promise((r) => setTimeout(r, 300));
    await main.kill();
    const failed = await pending;
    assert.deepEqual({ status: failed.status, ...failed.body }, { status: 500, error: 'UNAVAILABLE' });
    assert.ok(failed.ms < 5000, `answered in ${failed.ms} ms, not at the timeout`);
    await main.restart();
    // The restarted server is empty; poll (bounded) until the pool has a live connection again.
    const until = Date.now() + 10_000;
    let last: Awaited<ReturnType<typeof call>> | undefined;
    while (Date.now() < until) {
      last = await call('/patient/redis-set?target=main&key=t3&value=again');
      if (last.status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(last?.body, { value: true });
    assert.deepEqual((await call('/patient/redis-get?target=main&key=t3')).body, { value: 'again' });
  });

  test('rediss with a password from a secret variable: TLS verified, AUTH sent, database selected, and the password never logged', async () => {
    assert.deepEqual((await call('/quick/redis-set?target=secure&key=tls&value=encrypted')).body, { value: true });
    assert.deepEqual((await call('/quick/redis-get?target=secure&key=tls')).body, { value: 'encrypted' });
    assert.equal(await secure.cli('-n', '2', 'GET', 'tls'), 'encrypted');
    const wrong = await call('/quick/redis-get?target=wrong&key=tls');
    assert.deepEqual({ status: wrong.status, ...wrong.body }, { status: 500, error: 'UNAVAILABLE' });
    const until = Date.now() + 5000;
    while (!node.logs().some((l) => l.request_id === wrong.id && String(l.line).includes('refused the credentials in its URL')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.ok(node.logs().some((l) => l.request_id === wrong.id && String(l.line).includes('redis://127.0.0.1:')), 'the refusal names the server');
    for (const text of [node.stdout(), node.stderr()]) {
      assert.ok(!text.includes(PASSWORD), 'the password from the variable is never logged');
      assert.ok(!text.includes('not-the-password'), 'a password written in the URL is never logged');
    }
  });
});
