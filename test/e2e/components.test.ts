/**
 * wasi:http components end to end against the real CLI: real components built by ComponentizeJS
 * (test/fixtures/components), served with the standard interfaces bound to Verge's capabilities,
 * and held to the same limits as WAGI modules: a trap, a loop, memory exhaustion or an oversized
 * response fails its own request with a stated reason while the node goes on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeApp } from '../support/app.js';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { fixtureComponent } from '../support/components.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const SECRET = 'sk-live-components-0123456789';

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

async function json(url: string, init?: RequestInit): Promise<{ status: number; value: Record<string, unknown> }> {
  const r = await get(url, init);
  return { status: r.status, value: JSON.parse(r.body) as Record<string, unknown> };
}

describe('wasi:http components', () => {
  let node: VergeProcess;
  let origin: http.Server;
  let originUrl = '';
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'verge-component-cache-'));
  let dir = '';

  before(async () => {
    origin = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.method} ${req.url} ${body}`));
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;

    const [probe, counter] = await Promise.all([fixtureComponent('probe'), fixtureComponent('counter')]);
    dir = writeApp(
      'components',
      {
        probe: {
          route: '/p/...',
          wasm: probe,
          limits: 'timeout_ms = 3000, memory_mib = 64, max_response_bytes = 100000',
          extra: `key_value_stores = ["default"]\nvariables = ["greeting", "api_key"]\nallowed_outbound_hosts = ["${originUrl}"]`,
        },
        bare: { route: '/bare/...', wasm: probe },
        // The probe again with room in its deadline: on a loaded machine, filling 64 MiB can take
        // longer than /p/...'s 3 s, and the 504 would hide the memory failure this route shows.
        hungry: { route: '/h/...', wasm: probe, limits: 'timeout_ms = 30000, memory_mib = 64' },
        fresh: { route: '/fresh/...', wasm: counter },
        reused: { route: '/reused/...', wasm: counter, extra: 'instance_reuse = 3\nkey_value_stores = ["default"]' },
      },
      `[variables]\ngreeting = { default = "hello" }\napi_key = { required = true, secret = true }\n\n[key_value_stores.other]\nbackend = "memory"`,
    );
    node = await startVerge(dir, ['--workers', '2'], { env: { VERGE_VAR_API_KEY: SECRET, VERGE_CACHE_DIR: cacheDir }, readyMs: 90_000 });
  });

  after(async () => {
    await node?.stop();
    origin?.close();
  });

  test('passes method, path, query, headers and body in, and status, headers and body out', async () => {
    const r = await get(`${node.url}/p/echo?a=1&b=two`, { method: 'POST', headers: { 'content-type': 'text/plain', 'x-custom': 'c1' }, body: 'hello body' });
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), {
      method: 'POST',
      path: '/p/echo',
      query: '?a=1&b=two',
      contentType: 'text/plain',
      custom: 'c1',
      body: 'hello body',
      bodyLength: 10,
    });
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.headers.get('x-probe'), 'yes');
    assert.equal(r.headers.get('set-cookie'), 'a=1');
    assert.equal(r.headers.get('content-length'), String(Buffer.byteLength(r.body)), 'one content-length, the ingress one');
    assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('logs at start how each component was loaded: transpiled now, or from the cache', async () => {
    const loaded = node.logs().filter((l) => l.msg === 'wasi:http component loaded');
    assert.deepEqual(loaded.map((l) => l.component).sort(), ['bare', 'fresh', 'hungry', 'probe', 'reused']);
    for (const l of loaded) {
      assert.ok(typeof l.transpile_ms === 'number' || l.from === 'transpile cache', JSON.stringify(l));
      assert.ok(String(l.cache).startsWith(cacheDir), 'the cache is under VERGE_CACHE_DIR');
    }
  });

  test('passes any status code and a plain-text body through', async () => {
    const r = await get(`${node.url}/p/status?code=418&body=teapot`);
    assert.equal(r.status, 418);
    assert.equal(r.body, 'teapot');
  });

  test('gives every request a fresh instance by default', async () => {
    for (let i = 0; i < 3; i++) assert.deepEqual((await json(`${node.url}/p/hits`)).value, { hits: 1 });
    for (let i = 0; i < 3; i++) assert.equal((await json(`${node.url}/fresh/x`)).value.served, 1);
    // Resources a request leaves open and module variables it sets: the next one starts without them.
    for (let i = 0; i < 4; i++) assert.deepEqual((await json(`${node.url}/fresh/keep`)).value, { served: 1, kept: 2 });
  });

  test('serves instance_reuse requests from one instance, then starts a fresh one', async () => {
    // Two workers each keep their own instance: count per worker by reading the counter itself.
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) seen.push((await json(`${node.url}/reused/n${i}`)).value.served as number);
    assert.ok(seen.every((n) => n >= 1 && n <= 3), `served counts stay within instance_reuse = 3: ${seen}`);
    assert.ok(seen.some((n) => n > 1), `some instance served more than one request: ${seen}`);
  });

  test('never reuses an instance after it failed a request', async () => {
    const before = await json(`${node.url}/reused/warm`);
    assert.equal(before.status, 200);
    const failed = await json(`${node.url}/reused/throw`);
    assert.equal(failed.status, 500);
    assert.equal(failed.value.error, 'GUEST_TRAP');
    // Whichever worker answers next, an instance that trapped is gone: at most the other worker's count goes up.
    const next = await json(`${node.url}/reused/after`);
    assert.equal(next.status, 200);
  });

  test('with one worker: an instance serves exactly instance_reuse requests, and a failed one is replaced at once', async () => {
    const one = await startVerge(dir, ['--workers', '1'], { env: { VERGE_VAR_API_KEY: SECRET, VERGE_CACHE_DIR: cacheDir }, readyMs: 90_000 });
    try {
      const served = async (action: string) => (await json(`${one.url}/reused/${action}`)).value.served as number;
      const counts: number[] = [];
      for (let i = 0; i < 7; i++) counts.push(await served(`n${i}`));
      assert.deepEqual(counts, [1, 2, 3, 1, 2, 3, 1]);
      assert.equal((await json(`${one.url}/reused/throw`)).status, 500, 'the second request of this instance traps');
      assert.equal(await served('after-trap'), 1, 'the next request gets a fresh instance, not the trapped one');
      assert.equal(await served('again'), 2);
      // Beside it, the default keeps giving every request a fresh instance.
      for (let i = 0; i < 3; i++) assert.equal((await json(`${one.url}/fresh/f${i}`)).value.served, 1);
    } finally {
      await one.stop();
    }
  });

  test('lets a reused instance keep a wasi:keyvalue bucket from an earlier request, still under its grants', async () => {
    const counts: number[] = [];
    let kept = false;
    for (let i = 0; i < 6; i++) {
      const r = await json(`${node.url}/reused/kv`);
      assert.equal(r.status, 200, JSON.stringify(r.value));
      counts.push(r.value.count as number);
      if ((r.value.served as number) > 1) kept = true;
    }
    assert.deepEqual([...counts].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6], 'one store behind every bucket');
    assert.ok(kept, 'some request used a bucket an earlier request opened');
    // The fresh component has no grant: the same code is refused.
    assert.deepEqual((await json(`${node.url}/fresh/kv`)).value.error, { tag: 'access-denied' });
  });

  test('binds wasi:keyvalue to the granted store: set, get, exists, increment, list, delete', async () => {
    const kv = (q: string) => json(`${node.url}/p/kv?${q}`);
    assert.deepEqual((await kv('op=set&key=user:1&value=Ada')).value, { ok: true });
    assert.deepEqual((await kv('op=get&key=user:1')).value, { value: 'Ada' });
    assert.deepEqual((await kv('op=exists&key=user:1')).value, { exists: true });
    assert.deepEqual((await kv('op=get&key=user:2')).value, { value: null });
    assert.deepEqual((await kv('op=incr&key=hits&by=5')).value, { value: 5 });
    assert.deepEqual((await kv('op=incr&key=hits&by=2')).value, { value: 7 });
    // (The reused counter shares the store: its key is left out.)
    assert.deepEqual(((await kv('op=list')).value.keys as string[]).filter((k) => k !== 'count'), ['hits', 'user:1']);
    assert.deepEqual((await kv('op=delete&key=user:1')).value, { ok: true });
    assert.deepEqual((await kv('op=exists&key=user:1')).value, { exists: false });
  });

  test('refuses a store the component was not granted, naming it in the log', async () => {
    const r = await json(`${node.url}/p/kv?store=other&op=get&key=a`);
    assert.equal(r.status, 500);
    assert.deepEqual(r.value.error, { tag: 'access-denied' });
    const denied = await json(`${node.url}/bare/kv?op=get&key=a`);
    assert.deepEqual(denied.value.error, { tag: 'access-denied' });
    await waitForLog(node, (l) => l.component === 'probe' && String(l.line).includes('store "other" is not granted to component probe'));
    await waitForLog(node, (l) => l.component === 'bare' && String(l.line).includes('store "default" is not granted to component bare'));
  });

  test('binds wasi:config to granted variables and secrets, and never logs a secret', async () => {
    assert.deepEqual((await json(`${node.url}/p/config?key=greeting`)).value, { value: 'hello' });
    assert.deepEqual((await json(`${node.url}/p/config?key=api_key`)).value, { value: SECRET });
    const denied = await json(`${node.url}/bare/config?key=api_key`);
    assert.equal(denied.status, 500);
    assert.deepEqual(denied.value.error, { tag: 'upstream', val: 'ACCESS_DENIED: variable "api_key" is not granted to component bare' });
    await waitForLog(node, (l) => String(l.line).includes('variable "api_key" is not granted'));
    assert.ok(!node.stdout().includes(SECRET) && !node.stderr().includes(SECRET), 'the secret value never reaches the log');
  });

  test('sends wasi:logging records, stdout and stderr lines to the log with the request id', async () => {
    const r = await get(`${node.url}/p/log?msg=m1`);
    assert.equal(r.status, 200);
    const id = r.headers.get('x-request-id');
    await waitForLog(node, (l) => l.request_id === id && l.stream === 'guest' && l.level === 'warn' && l.line === 'probe: wasi-logging m1');
    await waitForLog(node, (l) => l.request_id === id && l.stream === 'stdout' && l.line === 'stdout m1');
    await waitForLog(node, (l) => l.request_id === id && l.stream === 'stderr' && l.line === 'stderr m1');
  });

  test('sends outbound requests to an allowed host through wasi:http/outgoing-handler', async () => {
    const r = await json(`${node.url}/p/fetch?url=${encodeURIComponent(`${originUrl}/hello?x=1`)}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.value, { status: 200, body: 'origin saw GET /hello?x=1 ', type: 'text/plain' });
    const post = await json(`${node.url}/p/fetch?method=POST&body=payload&url=${encodeURIComponent(`${originUrl}/in`)}`);
    assert.equal(post.value.body, 'origin saw POST /in payload');
  });

  test('denies outbound requests to a host not in allowed_outbound_hosts, naming it in the log', async () => {
    const r = await json(`${node.url}/p/fetch?url=${encodeURIComponent('http://127.0.0.2:9/x')}`);
    assert.equal(r.status, 502, 'the component saw the call fail');
    await waitForLog(node, (l) => l.component === 'probe' && String(l.line).includes('http://127.0.0.2:9 is not allowed by allowed_outbound_hosts'));
    const bare = await json(`${node.url}/bare/fetch?url=${encodeURIComponent(`${originUrl}/x`)}`);
    assert.equal(bare.status, 502);
    await waitForLog(node, (l) => l.component === 'bare' && String(l.line).includes('component bare has no allowed_outbound_hosts'));
  });

  test('fails a trapping component with 500 GUEST_TRAP and keeps serving', async () => {
    const r = await json(`${node.url}/fresh/throw`);
    assert.equal(r.status, 500);
    assert.equal(r.value.error, 'GUEST_TRAP');
    assert.equal((await json(`${node.url}/fresh/ok`)).status, 200);
  });

  test('fails a component that returns without a response with 502 GUEST_BAD_RESPONSE', async () => {
    const r = await json(`${node.url}/fresh/silent`);
    assert.equal(r.status, 502);
    assert.equal(r.value.error, 'GUEST_BAD_RESPONSE');
    assert.match(String(r.value.message), /without setting a response/);
  });

  test('fails a response body over max_response_bytes with 502 RESPONSE_TOO_LARGE', async () => {
    assert.equal((await get(`${node.url}/p/big?bytes=90000`)).status, 200);
    const r = await json(`${node.url}/p/big?bytes=200000`);
    assert.equal(r.status, 502);
    assert.equal(r.value.error, 'RESPONSE_TOO_LARGE');
  });

  test('answers a component that runs out of its memory_mib with a 500 of its own, node fine', async () => {
    const r = await get(`${node.url}/h/oom`);
    assert.equal(r.status, 500, r.body);
    assert.equal((await get(`${node.url}/p/status?code=200&body=alive`)).body, 'alive');
  });

  test('fails a looping component with 504 after its timeout while other requests go on', async () => {
    const started = Date.now();
    const loop = json(`${node.url}/p/loop`);
    // While one worker spins, the other keeps answering.
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 5; i++) assert.equal((await get(`${node.url}/fresh/during`)).status, 200);
    const r = await loop;
    assert.equal(r.status, 504);
    assert.equal(r.value.error, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - started >= 2900, 'waited out the 3000 ms timeout');
    assert.equal((await get(`${node.url}/p/status?code=200&body=after`)).body, 'after');
  });
});

describe('component load checks', () => {
  test('caps the memory of the core modules inside a component at memory_mib, naming the module', async () => {
    const probe = await fixtureComponent('probe');
    const dir = writeApp('tiny-memory', { tiny: { route: '/...', wasm: probe, limits: 'memory_mib = 1' } });
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-component-cache-'));
    const check = await runVerge(['check', dir], { env: { VERGE_CACHE_DIR: cache } });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /component tiny \(.*tiny\.wasm\): core module component\.core\.wasm: the module's initial memory is \d+ pages .* over the component's memory limit of 16 pages/);
  });

  test('refuses instance_reuse on a WAGI module, naming the component', async () => {
    const dir = writeApp('wagi-reuse', { hello: { route: '/...', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('status: 204\n\n')} (func (export "_start") (call $respond)))`), extra: 'instance_reuse = 5' } });
    const check = await runVerge(['check', dir]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /component hello \(.*hello\.wasm\): instance_reuse applies to wasi:http components/);
  });

  test('warns in verge check when a heavy component runs without instance_reuse', async () => {
    // The incomingHandler form: a fetch-event handler cannot reuse instances, so gets no such advice.
    const counter = await fixtureComponent('counter');
    const dir = writeApp('heavy', { heavy: { route: '/...', wasm: counter }, light: { route: '/l/...', wasm: counter, extra: 'instance_reuse = 50' } });
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-component-cache-'));
    const first = await runVerge(['check', dir], { env: { VERGE_CACHE_DIR: cache } });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /warn {2}heavy: .*instance_reuse/);
    assert.doesNotMatch(first.stderr, /warn {2}light/);
    assert.match(first.stderr, /transpiled in \d+ ms/);
    const second = await runVerge(['check', dir], { env: { VERGE_CACHE_DIR: cache } });
    assert.match(second.stderr, /from the transpile cache/);
    assert.doesNotMatch(second.stderr, /transpiled in/);
  });
});

async function waitForLog(node: VergeProcess, match: (l: Record<string, unknown>) => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (node.logs().some(match)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`no log record matched within ${ms} ms; got:\n${node.logs().slice(-15).map((l) => JSON.stringify(l)).join('\n')}`);
}
