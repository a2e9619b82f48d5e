/**
 * Portability: one wasi:http component (test/fixtures/components/portable.js, wasi:http only),
 * built once by `verge build`, served by Verge (`verge up`, a fresh instance per request) and by
 * jco's own reference server (`jco serve --isolate-requests instance`, from Verge's pinned
 * toolchain). The same requests go to both; status, the headers the component sets and the
 * bodies must match byte for byte. Where jco serve is the one that is wrong, the test states the
 * difference instead of hiding it.
 *
 * `verge build` componentizes against wasi:http/proxy plus only the interfaces the handler
 * imports, so this component, which imports nothing else, runs on jco serve as it is.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { jcoCliPath } from '../../src/cli/toolchain.js';
// jco serve is started the way the benchmark starts it (one place for both).
import { jcoServeArgs, stopGroup } from '../../bench/lib/components.js';
import { freePort, pollUntil200, startChild, type Child } from '../../bench/lib/proc.js';
import { writeApp } from '../support/app.js';
import { fixtureComponent } from '../support/components.js';
import { REPO_ROOT, runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

/** Headers that belong to the connection or to the server, not to the component. */
const SERVER_HEADERS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'x-request-id', 'x-verge-version']);

interface Answer {
  status: number;
  /** Lower-cased names; every value of a repeated header, in order. */
  headers: Record<string, string[]>;
  body: Buffer;
}

interface Ask {
  method: string;
  path: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Send the body in pieces with `transfer-encoding: chunked` instead of a content-length. */
  chunked?: boolean;
}

function request(base: string, ask: Ask, timeoutMs = 30_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[] | number> = { ...ask.headers };
    if (ask.body !== undefined && !ask.chunked) headers['content-length'] = Buffer.byteLength(ask.body);
    const req = http.request(`${base}${ask.path}`, { method: ask.method, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const byName: Record<string, string[]> = {};
        for (let i = 0; i < res.rawHeaders.length; i += 2) (byName[res.rawHeaders[i]!.toLowerCase()] ??= []).push(res.rawHeaders[i + 1]!);
        resolve({ status: res.statusCode ?? 0, headers: byName, body: Buffer.concat(chunks) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${ask.method} ${base}${ask.path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    if (ask.chunked && ask.body !== undefined) {
      const body = Buffer.from(ask.body);
      for (let at = 0; at < body.length; at += 7000) req.write(body.subarray(at, at + 7000));
      req.end();
    } else {
      req.end(ask.body);
    }
  });
}

/** The headers the component chose: server and framing headers removed. */
function componentHeaders(a: Answer): Record<string, string[]> {
  return Object.fromEntries(Object.entries(a.headers).filter(([k]) => !SERVER_HEADERS.has(k)));
}

/** jco serve keeps only the last value of a repeated response header (see the set-cookie test). */
function asJcoServeSendsThem(headers: Record<string, string[]>): Record<string, string[]> {
  return Object.fromEntries(Object.entries(headers).map(([k, values]) => [k, values.slice(-1)]));
}

function fnv1a(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** Deterministic bytes covering every octet value, so a body that is re-encoded anywhere shows. */
function binaryBody(bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  let seed = 0x2545f491;
  for (let i = 0; i < bytes; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    out[i] = seed >>> 24;
  }
  return out;
}

/**
 * `jco serve` runs the server in a second node process it spawns itself, so it is started as the
 * leader of its own process group and stopped through the group (bench/lib/components.ts).
 */
async function startJcoServe(wasm: string): Promise<{ child: Child; url: string }> {
  const jcoCli = await jcoCliPath();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = startChild('jco serve', process.execPath, jcoServeArgs(jcoCli, wasm, port), { detached: true });
  try {
    // "Server listening" is printed before the socket is bound (off-thread): poll until it answers.
    await pollUntil200(child, `${url}/health`, 60_000, 100);
  } catch (e) {
    await stopGroup(child);
    throw e;
  }
  return { child, url };
}

describe('a wasi:http-only component answers alike under Verge and under jco serve', () => {
  let verge: VergeProcess | undefined;
  let jco: { child: Child; url: string } | undefined;

  before(async () => {
    const wasm = await fixtureComponent('portable');
    const app = writeApp('portable', { portable: { route: '/...', wasm } });
    const cache = mkdtempSync(path.join(os.tmpdir(), 'verge-component-cache-'));
    // Each is kept as soon as it is up, so `after` stops it even when the other fails to start.
    const started = await Promise.allSettled([
      startVerge(app, ['--log-level', 'warn'], { env: { VERGE_CACHE_DIR: cache }, readyMs: 60_000 }).then((p) => (verge = p)),
      startJcoServe(path.join(app, 'portable.wasm')).then((p) => (jco = p)),
    ]);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
  });

  after(async () => {
    await Promise.all([verge?.stop(), jco && stopGroup(jco.child)]);
  });

  /** Sends `ask` to both, checks status, component headers and body match; returns both answers. */
  async function both(ask: Ask): Promise<{ v: Answer; j: Answer }> {
    const [v, j] = await Promise.all([request(verge!.url, ask), request(jco!.url, ask)]);
    const what = `${ask.method} ${ask.path}`;
    assert.equal(v.status, j.status, `${what}: status (Verge ${v.status}, jco serve ${j.status}: ${j.body.toString('utf8').slice(0, 300)})`);
    assert.deepEqual(asJcoServeSendsThem(componentHeaders(v)), componentHeaders(j), `${what}: the component's headers`);
    assert.ok(v.body.equals(j.body), `${what}: bodies differ\nVerge:     ${v.body.toString('utf8').slice(0, 300)}\njco serve: ${j.body.toString('utf8').slice(0, 300)}`);
    for (const [name, a] of [['Verge', v], ['jco serve', j]] as const) {
      const length = a.headers['content-length'];
      if (ask.method !== 'HEAD' && length) assert.deepEqual(length, [String(a.body.length)], `${what}: ${name} frames the body with one true content-length`);
    }
    return { v, j };
  }

  test('GET with a query string and x-echo-* request headers echoed back', async () => {
    const { v } = await both({ method: 'GET', path: '/echo?a=1&b=%C3%A9t%C3%A9&empty=&sp=a+b%20c', headers: { 'x-echo-trace': 'abc-123', 'x-echo-lang': 'fr', 'x-ignored': 'no' } });
    assert.equal(v.status, 200);
    assert.deepEqual(v.headers['content-type'], ['application/json; charset=utf-8']);
    assert.deepEqual(v.headers['x-echo-trace'], ['abc-123']);
    assert.deepEqual(v.headers['x-echo-lang'], ['fr']);
    assert.equal(v.headers['x-ignored'], undefined);
    const body = JSON.parse(v.body.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(body.echoed, { 'x-echo-trace': ['abc-123'], 'x-echo-lang': ['fr'] });
    assert.deepEqual(body.params, { a: '1', b: 'été', empty: '', sp: 'a b c' });
    assert.equal(body.query, 'a=1&b=%C3%A9t%C3%A9&empty=&sp=a+b%20c', 'the query string reaches the component as sent');
  });

  test('a repeated response header (set-cookie): Verge sends every value, jco serve only the last', async () => {
    const { v, j } = await both({ method: 'GET', path: '/echo' });
    assert.deepEqual(v.headers['set-cookie'], ['session=abc; Path=/; HttpOnly', 'theme=dark']);
    // jco serve's bug, not Verge's: preview2-shim 0.26 (io/worker-http.js) answers with
    // `response.writeHead(status, Object.fromEntries(headers))`, so of several fields with one
    // name only the last survives. If this starts failing, jco fixed it: drop asJcoServeSendsThem.
    assert.deepEqual(j.headers['set-cookie'], ['theme=dark']);
  });

  test('a repeated request header reaches the component as separate values under both', async () => {
    const { v, j } = await both({ method: 'GET', path: '/echo', headers: { 'x-echo-dup': ['one', 'two'] } });
    assert.deepEqual((JSON.parse(v.body.toString('utf8')) as Record<string, unknown>).echoed, { 'x-echo-dup': ['one', 'two'] });
    // Echoed back as two response fields: the same jco serve bug as set-cookie above.
    assert.deepEqual(v.headers['x-echo-dup'], ['one', 'two']);
    assert.deepEqual(j.headers['x-echo-dup'], ['two']);
  });

  test('POST a JSON body with non-ASCII text: 201 with a location header', async () => {
    const item = { name: 'Zoë Ångström ✓ 日本語 🎉', tags: ['ünïcödé', 'plain'], n: 3 };
    const { v } = await both({ method: 'POST', path: '/items', headers: { 'content-type': 'application/json' }, body: JSON.stringify(item) });
    assert.equal(v.status, 201);
    assert.deepEqual(v.headers.location, [`/items/${encodeURIComponent(item.name)}`]);
    assert.deepEqual(JSON.parse(v.body.toString('utf8')), { created: item, nameChars: [...item.name].length, nameBytes: Buffer.byteLength(item.name) });
  });

  test('a non-ASCII UTF-8 text body comes back unchanged', async () => {
    const text = 'Grüße, naïve café — 你好，世界 — Привет — 🚀🌍 — \u00a0tab\tnewline\n';
    const { v } = await both({ method: 'POST', path: '/echo', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text });
    const body = JSON.parse(v.body.toString('utf8')) as Record<string, unknown>;
    assert.equal(body.body, text);
    assert.equal(body.bodyBytes, Buffer.byteLength(text));
    assert.equal(body.contentType, 'text/plain; charset=utf-8');
  });

  test('PUT a ~200 KB binary body and get it back byte for byte', async () => {
    const payload = binaryBody(200 * 1024);
    const { v } = await both({ method: 'PUT', path: '/raw', headers: { 'content-type': 'application/octet-stream' }, body: payload });
    assert.equal(v.status, 200);
    assert.deepEqual(v.headers['x-body-bytes'], [String(payload.length)]);
    assert.deepEqual(v.headers['x-body-fnv1a'], [fnv1a(payload)]);
    assert.ok(v.body.equals(payload), 'the component saw and returned the exact bytes');
  });

  test('a ~300 KB chunked request body (no content-length) arrives whole', async () => {
    const payload = binaryBody(300 * 1024);
    const { v } = await both({ method: 'PUT', path: '/raw', headers: { 'content-type': 'application/octet-stream' }, body: payload, chunked: true });
    assert.equal(v.status, 200);
    assert.deepEqual(v.headers['x-body-fnv1a'], [fnv1a(payload)]);
    assert.ok(v.body.equals(payload));
  });

  test('an unknown path is the component\'s own 404', async () => {
    const { v } = await both({ method: 'GET', path: '/no/such/thing?x=1' });
    assert.equal(v.status, 404);
    assert.deepEqual(JSON.parse(v.body.toString('utf8')), { error: 'NOT_FOUND', method: 'GET', path: '/no/such/thing' });
  });

  test('a method the component refuses is its own 405 with allow', async () => {
    const { v } = await both({ method: 'GET', path: '/items' });
    assert.equal(v.status, 405);
    assert.deepEqual(v.headers.allow, ['POST']);
  });

  test('a bad JSON body is the component\'s own 400', async () => {
    const { v } = await both({ method: 'POST', path: '/items', headers: { 'content-type': 'application/json' }, body: '{"name": ' });
    assert.equal(v.status, 400);
    assert.equal((JSON.parse(v.body.toString('utf8')) as Record<string, unknown>).error, 'BAD_JSON');
  });

  test('HEAD: the headers of the GET, the length of its body, no body', async () => {
    const get = await both({ method: 'GET', path: '/health' });
    const { v, j } = await both({ method: 'HEAD', path: '/health' });
    assert.equal(v.status, 200);
    for (const [name, a] of [['Verge', v], ['jco serve', j]] as const) {
      assert.equal(a.body.length, 0, `${name} sends no body to HEAD`);
      assert.deepEqual(a.headers['content-length'], [String(get.v.body.length)], `${name}: content-length is the GET body's`);
    }
  });

  test('concurrent requests get the same answers from both', async () => {
    const asks: Ask[] = Array.from({ length: 8 }, (_, i) => ({ method: 'POST', path: `/echo?i=${i}`, headers: { 'content-type': 'text/plain' }, body: `body ${i} ✓` }));
    await Promise.all(asks.map((a) => both(a)));
  });
});

/**
 * WASI 0.3 (wasi:http/handler@0.3.0, the component model's async ABI) cannot run here: jco's glue
 * for async functions needs JavaScript Promise Integration, which Node 20 lacks, and Verge's host
 * side of 0.3 is not built (docs/components.md#wasi-03-and-async-components). What a user gets is
 * a refusal at load that says so, from `verge check` and from `verge up`, and nothing served.
 */
describe('a WASI 0.3 component is refused at load, saying why', () => {
  let app: string;

  before(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-p3-'));
    const wasm = path.join(dir, 'handler.wasm');
    const parsed = spawnSync(process.execPath, [await jcoCliPath(), 'parse', path.join(REPO_ROOT, 'test/fixtures/components/p3/handler.wat'), '-o', wasm], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(parsed.status, 0, `jco parse: ${parsed.stderr}`);
    app = writeApp('p3', { api: { route: '/...', wasm: readFileSync(wasm) } });
  });

  const refusal =
    /component api \([^)]*api\.wasm\): is a WASI 0\.3 component \(exports wasi:http\/handler@0\.3\.0, imports wasi:http\/types@0\.3\.0\) and uses the component model's async ABI \(the async built-in task\.return\), which Verge does not run/;

  test('verge check fails, naming the 0.3 interfaces and the async ABI', async () => {
    const check = await runVerge(['check', app]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr + check.stdout, refusal);
    assert.match(check.stderr + check.stdout, /build this one for WASI 0\.2/);
  });

  test('verge up exits 1 with the same refusal, COMPONENT_ASYNC, and serves nothing', async () => {
    const up = await runVerge(['up', app, '--listen', '127.0.0.1:0']);
    assert.equal(up.code, 1, up.stdout + up.stderr);
    assert.match(up.stderr + up.stdout, refusal);
    assert.match(up.stderr + up.stdout, /\(COMPONENT_ASYNC\)/);
    assert.doesNotMatch(up.stdout + up.stderr, /Serving/);
  });
});
