/**
 * Host capabilities through verge:v1, end to end against the real CLI: key-value on SQLite (a real
 * file) and memory, variables and secrets, guest logging, outbound HTTP to a real local origin.
 * Every grant is default-deny and every denial names what was missing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { counter, fetcher, logger, variableEcho } from '../support/capability-guests.js';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

const SECRET = 'sk-live-0123456789abcdef';

async function text(url: string): Promise<{ status: number; body: string; id: string | null }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.text(), id: res.headers.get('x-request-id') };
}

describe('capabilities through verge:v1', () => {
  let node: VergeProcess;
  let dir: string;
  let origin: http.Server;
  let originHits = 0;
  let hangClosed = 0;
  let originUrl = '';

  before(async () => {
    origin = http.createServer((req, res) => {
      originHits++;
      if (req.url === '/hang') {
        // Never answers; records when Verge gives up on it.
        req.on('close', () => hangClosed++);
        return;
      }
      res.writeHead(req.url === '/missing' ? 404 : 200, { 'content-type': 'text/plain' }).end(`origin saw ${req.method} ${req.url}`);
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    dir = writeApp(
      'caps',
      {
        count: { route: '/count', wasm: await counter('default'), extra: 'key_value_stores = ["default"]' },
        'count-cache': { route: '/count-cache', wasm: await counter('cache'), extra: 'key_value_stores = ["cache"]' },
        'count-denied': { route: '/count-denied', wasm: await counter('default'), extra: 'key_value_stores = ["cache"]' },
        greeting: { route: '/greeting', wasm: await variableEcho('greeting'), extra: 'variables = ["greeting"]' },
        secret: { route: '/secret', wasm: await variableEcho('api_key'), extra: 'variables = ["api_key"]' },
        'secret-denied': { route: '/secret-denied', wasm: await variableEcho('api_key'), extra: 'variables = ["greeting"]' },
        log: { route: '/log', wasm: await logger('guest says hi', 3) },
        flood: { route: '/flood', wasm: await logger('again and again', 500) },
        fetch: { route: '/fetch', wasm: await fetcher('target'), extra: `variables = ["target"]\nallowed_outbound_hosts = ["http://127.0.0.1:*"]` },
        'fetch-missing': { route: '/fetch-missing', wasm: await fetcher('missing_target'), extra: `variables = ["missing_target"]\nallowed_outbound_hosts = ["http://127.0.0.1:*"]` },
        'fetch-ungranted': { route: '/fetch-ungranted', wasm: await fetcher('target'), extra: 'variables = ["target"]' },
        'fetch-hang': {
          route: '/fetch-hang',
          wasm: await fetcher('hang_target'),
          limits: 'timeout_ms = 500',
          extra: `variables = ["hang_target"]\nallowed_outbound_hosts = ["http://127.0.0.1:*"]`,
        },
        'fetch-wildcard': { route: '/fetch-wildcard', wasm: await fetcher('target'), extra: `variables = ["target"]\nallowed_outbound_hosts = ["http://*:*"]` },
      },
      `[key_value_stores.cache]\nbackend = "memory"\n\n[variables]\ngreeting = { default = "hello" }\napi_key = { required = true, secret = true }\ntarget = { default = "${originUrl}/data" }\nmissing_target = { default = "${originUrl}/missing" }\nhang_target = { default = "${originUrl}/hang" }`,
    );
    node = await startVerge(dir, ['--workers', '2'], { admin: true, env: { VERGE_VAR_API_KEY: SECRET } });
  });

  after(async () => {
    await node?.stop();
    origin.close();
  });

  test('a granted SQLite store keeps state across requests and workers, in a real file under the data dir', async () => {
    const first = Number((await text(`${node.url}/count`)).body);
    const second = Number((await text(`${node.url}/count`)).body);
    assert.equal(second, first + 1);
    assert.ok(existsSync(path.join(dir, '.verge', 'data', 'default.sqlite')));
  });

  test('200 concurrent increments on SQLite lose no update', async () => {
    const before = Number((await text(`${node.url}/count`)).body);
    const results = await Promise.all(Array.from({ length: 200 }, () => text(`${node.url}/count`)));
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
    const seen = results.map((r) => Number(r.body)).sort((a, b) => a - b);
    assert.deepEqual(seen, Array.from({ length: 200 }, (_, i) => before + 1 + i), 'every increment returned a distinct value');
  });

  test('a memory store declared in [key_value_stores] is served from the main thread', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, () => text(`${node.url}/count-cache`)));
    assert.deepEqual(results.map((r) => Number(r.body)).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1));
  });

  test('opening a store the component was not granted is ACCESS_DENIED, logged with the store name', async () => {
    const r = await text(`${node.url}/count-denied`);
    assert.equal(r.body, 'error:2');
    await waitFor(() => node.logs().some((l) => l.request_id === r.id && /kv_open: store "default" is not granted to component count-denied/.test(String(l.line))));
  });

  test('a granted variable reads its default; a granted secret reads the environment value', async () => {
    assert.equal((await text(`${node.url}/greeting`)).body, 'hello');
    assert.equal((await text(`${node.url}/secret`)).body, SECRET);
  });

  test('a variable the component was not granted is ACCESS_DENIED, and the secret never reaches the log', async () => {
    const r = await text(`${node.url}/secret-denied`);
    assert.equal(r.body, 'error:2');
    await waitFor(() => node.logs().some((l) => l.request_id === r.id && /variable "api_key" is not granted/.test(String(l.line))));
    assert.ok(!node.stdout().includes(SECRET), 'no log line contains the secret value');
    assert.ok(!node.stderr().includes(SECRET));
  });

  test('guest log calls become JSON records with the request id, component and level', async () => {
    const r = await text(`${node.url}/log`);
    assert.equal(r.body, 'logged');
    await waitFor(() => node.logs().filter((l) => l.request_id === r.id && l.line === 'guest says hi').length === 3);
    const rec = node.logs().find((l) => l.request_id === r.id && l.line === 'guest says hi')!;
    assert.equal(rec.level, 'info');
    assert.equal(rec.component, 'log');
    assert.equal(rec.stream, 'guest');
  });

  test('a guest cannot flood the log: 200 records per request, then one truncation notice', async () => {
    const r = await text(`${node.url}/flood`);
    assert.equal(r.body, 'logged');
    await waitFor(() => node.logs().some((l) => l.request_id === r.id && /log truncated/.test(String(l.line))));
    const mine = node.logs().filter((l) => l.request_id === r.id && l.line === 'again and again');
    assert.equal(mine.length, 200);
  });

  test('outbound HTTP to an allowed host returns the origin response; a 404 is a response, not an error', async () => {
    assert.equal((await text(`${node.url}/fetch`)).body, '200 origin saw GET /data');
    assert.equal((await text(`${node.url}/fetch-missing`)).body, '404 origin saw GET /missing');
  });

  test('the deadline still ends a guest stuck in an outbound call, and the outbound connection is dropped', async () => {
    const t0 = Date.now();
    const r = await fetch(`${node.url}/fetch-hang`);
    const elapsed = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(((await r.json()) as { error: string }).error, 'DEADLINE_EXCEEDED');
    assert.ok(elapsed < 500 + 250, `answered after ${elapsed} ms`);
    await waitFor(() => hangClosed >= 1);
    assert.equal((await text(`${node.url}/greeting`)).body, 'hello', 'the node goes on serving');
  });

  test('outbound HTTP without allowed_outbound_hosts, or to loopback under a wildcard, is ACCESS_DENIED and never reaches the origin', async () => {
    const hits = originHits;
    assert.equal((await text(`${node.url}/fetch-ungranted`)).body, 'error:2');
    const wildcard = await text(`${node.url}/fetch-wildcard`);
    assert.equal(wildcard.body, 'error:2');
    assert.equal(originHits, hits, 'the origin received nothing');
    await waitFor(() => node.logs().some((l) => l.request_id === wildcard.id && /loopback/.test(String(l.line))));
  });
});

async function waitFor(cond: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
