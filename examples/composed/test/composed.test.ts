/**
 * examples/composed end to end: `verge build` builds its three JS components (ComponentizeJS,
 * build.mjs) and three Rust handlers (build.sh), then `verge up` serves a copy of the app whose
 * keys/ holds this run's Ed25519 public key (the secret is this run's VERGE_VAR_JWT_SECRET).
 * Tokens are minted by node:crypto (tokens.ts).
 *
 * - The api, composed from auth and data by component dependencies, answers claims and records.
 * - auth refuses missing, expired, not-yet-valid, tampered (signature and payload) and
 *   wrong-algorithm tokens of both algorithms, as the api's dependency and as middleware.
 * - A refused request never reaches the component behind the middleware: users counts its runs
 *   in its store (read through the admin API) and no chained request is logged for it.
 * - images stamps an image by a chained call to watermark, whose route is private: from outside
 *   it is 404.
 * - A dependency that does not inherit `files` cannot read the public key (a second node).
 * - The Rust handlers' own unit tests pass (cargo test, natively).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { childEnv, runVerge, startVerge, type VergeProcess } from '../../../test/support/verge-process.js';
import { waitFor } from '../../../test/support/wait.js';
import { claims, eddsa, hs256, makeKeys, mint, nowSeconds, tamperPayload, tamperSignature, type TestKeys } from './tokens.js';

const APP = fileURLToPath(new URL('../../../../examples/composed', import.meta.url));
/** What `verge build` makes, at the paths verge.toml names. */
const BUILT = [
  'build/auth.wasm',
  'build/data.wasm',
  'build/api.wasm',
  'services/target/wasm32-wasi/release/users.wasm',
  'services/target/wasm32-wasi/release/images.wasm',
  'services/target/wasm32-wasi/release/watermark.wasm',
];
const ADMIN_TOKEN = 'composed-example-admin-token-0123456789';
/** A cold build componentizes three components (half a minute each on a quiet machine) and compiles the image crate. */
const BUILD_MS = 20 * 60_000;
const READY_MS = 5 * 60_000;

interface Reply {
  status: number;
  headers: Headers;
  body: Buffer;
  json: Record<string, unknown>;
}

async function call(node: VergeProcess, method: string, urlPath: string, opts: { token?: string; body?: Buffer | string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(node.url + urlPath, { method, headers, body: opts.body });
  const body = Buffer.from(await res.arrayBuffer());
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json') ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  return { status: res.status, headers: res.headers, body, json };
}

function assertStatus(r: Reply, status: number, what: string): void {
  assert.equal(r.status, status, `${what}: ${r.body.toString('utf8').slice(0, 400)}`);
}

/** How long a log line may take to appear, on a loaded machine. */
const LOG_MS = 15_000;

let building: Promise<void> | undefined;
/** `verge build` of the example itself, once per test file. */
function buildApp(): Promise<void> {
  building ??= runVerge(['build', APP]).then((r) => assert.equal(r.code, 0, `verge build ${APP}:\n${r.stdout}\n${r.stderr}`));
  return building;
}

/** A copy of the app (its built modules and verge.toml, or `manifest`) with this run's public key in keys/. */
function appCopy(keys: TestKeys, manifest = readFileSync(path.join(APP, 'verge.toml'), 'utf8')): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-composed-'));
  for (const file of BUILT) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    copyFileSync(path.join(APP, file), path.join(dir, file));
  }
  mkdirSync(path.join(dir, 'keys'));
  writeFileSync(path.join(dir, 'keys/ed25519.pub'), keys.publicPem);
  writeFileSync(path.join(dir, 'verge.toml'), manifest);
  return dir;
}

async function serve(keys: TestKeys, manifest?: string): Promise<{ node: VergeProcess; dir: string }> {
  const dir = appCopy(keys, manifest);
  const node = await startVerge(dir, ['--data-dir', path.join(dir, 'data')], {
    admin: true,
    env: { VERGE_VAR_JWT_SECRET: keys.secret, VERGE_ADMIN_TOKEN: ADMIN_TOKEN, VERGE_CACHE_DIR: path.join(dir, 'cache') },
    readyMs: READY_MS,
  });
  return { node, dir };
}

/** The users handler's run counter, through the admin API's read-only store view (0 before its first run). */
async function usersRuns(node: VergeProcess): Promise<number> {
  const res = await fetch(`${node.adminUrl}/v1/apps/composed/stores/users/keys/runs`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status === 404) return 0;
  const body = await res.text();
  assert.equal(res.status, 200, body);
  return Number((JSON.parse(body) as { text: string }).text);
}

/** A request from outside naming `host` (fetch does not let a test set Host). */
function withHost(node: VergeProcess, target: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(node.url + target, { method: 'POST', headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The tEXt chunks of a PNG, keyword → text. */
function pngText(png: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (let at = 8; at + 8 <= png.length; ) {
    const length = png.readUInt32BE(at);
    const type = png.toString('latin1', at + 4, at + 8);
    if (type === 'tEXt') {
      const data = png.subarray(at + 8, at + 8 + length);
      const nul = data.indexOf(0);
      out.set(data.toString('latin1', 0, nul), data.toString('latin1', nul + 1));
    }
    at += 12 + length;
  }
  return out;
}

type Make = (keys: TestKeys, payload: Record<string, unknown>) => string;
const ALGORITHMS: Array<[string, Make]> = [
  ['HS256', hs256],
  ['EdDSA', eddsa],
];

/** Every way a token of `alg` is refused here: what, the token (undefined: none sent), status and error code. */
function refusedTokens(keys: TestKeys, alg: string, make: Make): Array<[string, string | undefined, string]> {
  const now = nowSeconds();
  const valid = make(keys, claims('ada'));
  const other = alg === 'HS256' ? 'EdDSA' : 'HS256';
  return [
    ['no token', undefined, 'TOKEN_MISSING'],
    [`${alg}, expired an hour ago`, make(keys, claims('ada', { exp: now - 3600 })), 'TOKEN_EXPIRED'],
    [`${alg}, not valid for another hour`, make(keys, claims('ada', { nbf: now + 3600 })), 'TOKEN_NOT_YET_VALID'],
    [`${alg}, signature changed`, tamperSignature(valid), 'SIGNATURE_INVALID'],
    [`${alg}, payload changed to another subject`, tamperPayload(valid, claims('admin')), 'SIGNATURE_INVALID'],
    [`${alg} header, signed with ${other}`, mint(keys, claims('ada'), { signWith: other as 'HS256' | 'EdDSA', header: { alg, typ: 'JWT' } }), 'SIGNATURE_INVALID'],
    ['alg none, unsigned', mint(keys, claims('ada'), { signWith: 'none', header: { alg: 'none', typ: 'JWT' } }), 'ALGORITHM_NOT_ALLOWED'],
    ['HS512', mint(keys, claims('ada'), { signWith: 'HS512' }), 'ALGORITHM_NOT_ALLOWED'],
    ['RS256 header', mint(keys, claims('ada'), { signWith: 'HS256', header: { alg: 'RS256' } }), 'ALGORITHM_NOT_ALLOWED'],
  ];
}

/** A refusal: 401 with the code, and a Bearer challenge saying whether a token was sent. */
function assertRefused(r: Reply, code: string, what: string): void {
  assertStatus(r, 401, what);
  assert.equal(r.json.error, code, what);
  const challenge = r.headers.get('www-authenticate') ?? '';
  assert.match(challenge, /^Bearer realm="verge-composed"/, what);
  if (code === 'TOKEN_MISSING') assert.doesNotMatch(challenge, /error=/, what);
  else assert.match(challenge, /error="invalid_token", error_description="[^"]+"/, what);
}

describe('examples/composed', { timeout: BUILD_MS + READY_MS + 10 * 60_000 }, () => {
  const keys = makeKeys();
  let node: VergeProcess;
  let dir = '';

  before(async () => {
    await buildApp();
    ({ node, dir } = await serve(keys));
  });

  after(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the api answers a valid token of either algorithm with its claims, through its auth dependency', async () => {
    for (const [alg, make] of ALGORITHMS) {
      const payload = claims(`reader-${alg.toLowerCase()}`, { iss: 'composed-tests' });
      const r = await call(node, 'GET', '/api/me', { token: make(keys, payload) });
      assertStatus(r, 200, alg);
      assert.deepEqual(r.json, {
        claims: { subject: payload.sub, algorithm: alg, issuedAt: payload.iat, expiresAt: payload.exp, scopes: ['profile:read', 'profile:write'], payload },
        records: [],
      });
    }
  });

  test("records the api adds through its data dependency come back with the caller's claims, per subject", async () => {
    const ada = eddsa(keys, claims('ada-records'));
    const grace = hs256(keys, claims('grace-records'));
    for (const text of ['first', 'second']) assertStatus(await call(node, 'POST', '/api/records', { token: ada, body: JSON.stringify({ text }) }), 201, text);
    const added = await call(node, 'POST', '/api/records', { token: grace, body: JSON.stringify({ text: 'hers' }) });
    assertStatus(added, 201, 'grace');
    assert.deepEqual((added.json.record as { id: number; text: string }).text, 'hers');

    const mine = await call(node, 'GET', '/api/me', { token: ada });
    assertStatus(mine, 200, 'ada');
    assert.equal((mine.json.claims as { subject: string }).subject, 'ada-records');
    assert.deepEqual(
      (mine.json.records as Array<{ id: number; text: string; createdAt: number }>).map((e) => [e.id, e.text, typeof e.createdAt]),
      [
        [1, 'first', 'number'],
        [2, 'second', 'number'],
      ],
    );
    const hers = await call(node, 'GET', '/api/me', { token: grace });
    assert.deepEqual((hers.json.records as Array<{ text: string }>).map((e) => e.text), ['hers']);

    assertStatus(await call(node, 'POST', '/api/records', { token: ada, body: '{"text": 7}' }), 400, 'a non-string text');
    const long = await call(node, 'POST', '/api/records', { token: ada, body: JSON.stringify({ text: 'x'.repeat(501) }) });
    assertStatus(long, 422, 'a text over the limit');
    assert.match(String(long.json.message), /1 to 500 characters/);
  });

  test('the api refuses missing, expired, tampered and wrong-algorithm tokens of both algorithms', async () => {
    for (const [alg, make] of ALGORITHMS) {
      for (const [what, token, code] of refusedTokens(keys, alg, make)) {
        const r = await call(node, 'GET', '/api/me', token === undefined ? {} : { token });
        assertRefused(r, code, `api, ${what}`);
        assert.equal(r.json.records, undefined, `api, ${what}: no records`);
      }
    }
  });

  test('as middleware auth refuses the same tokens, and the users handler never runs for them', async () => {
    const before = await usersRuns(node);
    const refusedIds: string[] = [];
    for (const [alg, make] of ALGORITHMS) {
      for (const [what, token, code] of refusedTokens(keys, alg, make)) {
        const r = await call(node, 'GET', '/users/me', token === undefined ? {} : { token });
        assertRefused(r, code, `users, ${what}`);
        refusedIds.push(r.headers.get('x-request-id')!);
      }
    }
    assert.equal(await usersRuns(node), before, 'the users handler ran for a refused request');

    // A request that passes runs it exactly once. Its chained-request line is logged after every
    // line of the refused requests (they were answered first, and a stage's line is logged before
    // its caller answers), so once it is there, none of theirs can still come.
    const ok = await call(node, 'GET', '/users/me', { token: hs256(keys, claims('ada')) });
    assertStatus(ok, 200, 'a valid token');
    assert.equal(await usersRuns(node), before + 1);
    const passed = ok.headers.get('x-request-id')!;
    await waitFor(() => node.logs().find((l) => l.parent_request_id === passed && l.msg === 'chained request' && l.component === 'users'), 'the users stage of the valid request', LOG_MS);
    const reached = node.logs().filter((l) => refusedIds.includes(String(l.parent_request_id)));
    assert.deepEqual(reached, [], 'a stage after auth ran for a refused request');
  });

  test('middleware passes a valid request on with the verified subject, replacing any x-verified-* the client sent', async () => {
    for (const [alg, make] of ALGORITHMS) {
      const r = await call(node, 'GET', '/users/me', { token: make(keys, claims(`user-${alg}`, { scope: 'profile:read' })), headers: { 'x-verified-subject': 'admin', 'x-verified-scopes': 'profile:write' } });
      assertStatus(r, 200, alg);
      assert.equal(r.json.subject, `user-${alg}`);
      assert.deepEqual(r.json.scopes, ['profile:read']);
      assert.equal(r.headers.get('x-verified-by'), 'auth', 'the middleware relays the answer');
    }
    // The spoofed header alone, without a token, gets nowhere.
    assertRefused(await call(node, 'GET', '/users/me', { headers: { 'x-verified-subject': 'admin' } }), 'TOKEN_MISSING', 'spoofed, no token');
  });

  test('the users handler keeps a profile and asks for the profile:write scope to change it', async () => {
    const writer = eddsa(keys, claims('profiled'));
    const reader = eddsa(keys, claims('profiled', { scope: 'profile:read' }));
    const put = await call(node, 'PUT', '/users/me', { token: writer, body: '{"name":"Ada Lovelace"}' });
    assertStatus(put, 200, 'put');
    const refused = await call(node, 'PUT', '/users/me', { token: reader, body: '{"name":"Mallory"}' });
    assertStatus(refused, 403, 'put without the scope');
    assert.equal(refused.json.error, 'INSUFFICIENT_SCOPE');
    const got = await call(node, 'GET', '/users/me', { token: reader });
    assert.deepEqual(got.json.profile, { name: 'Ada Lovelace' });
    assertStatus(await call(node, 'PUT', '/users/me', { token: writer, body: '[1]' }), 400, 'not an object');
    assertStatus(await call(node, 'DELETE', '/users/me', { token: writer }), 405, 'delete');
  });

  test('images stamps a PNG and a JPEG by a chained call to watermark: a lighter band and a tEXt chunk', async () => {
    const colour = { r: 120, g: 60, b: 30 };
    const inputs = {
      png: await sharp({ create: { width: 64, height: 48, channels: 3, background: colour } }).png().toBuffer(),
      jpeg: await sharp({ create: { width: 80, height: 40, channels: 3, background: colour } }).jpeg({ quality: 95 }).toBuffer(),
    };
    for (const [format, input] of Object.entries(inputs)) {
      const meta = await sharp(input).metadata();
      const r = await call(node, 'POST', '/images/watermark', { token: eddsa(keys, claims('photographer')), body: input });
      assertStatus(r, 200, format);
      assert.equal(r.headers.get('content-type'), 'image/png');
      assert.equal(r.headers.get('x-watermark'), 'verge:photographer');
      assert.equal(pngText(r.body).get('Comment'), 'verge:photographer', format);

      const { data, info } = await sharp(r.body).raw().toBuffer({ resolveWithObject: true });
      assert.deepEqual([info.width, info.height, info.channels], [meta.width, meta.height, 4], format);
      const original = await sharp(input).ensureAlpha().raw().toBuffer();
      const band = Math.max(1, Math.floor(info.height / 8));
      const at = (x: number, y: number) => (y * info.width + x) * 4;
      for (let y = 0; y < info.height; y++) {
        for (const x of [0, 5, info.width - 1]) {
          const [i, what] = [at(x, y), `${format} (${x}, ${y})`];
          for (let c = 0; c < 3; c++) {
            const [out, was] = [data[i + c]!, original[i + c]!];
            // JPEG: the image crate and libjpeg-turbo (sharp) may decode a sample one or two apart.
            if (y < info.height - band) assert.ok(format === 'png' ? out === was : Math.abs(out - was) <= 2, `${what}: above the band, untouched (${out} vs ${was})`);
            else assert.ok(out >= was + 30, `${what}: lighter in the band (${out} vs ${was})`);
          }
        }
      }
    }
    const chained = await waitFor(() => node.logs().find((l) => l.msg === 'chained request' && l.component === 'watermark'), 'the chained call to watermark', LOG_MS);
    assert.equal(chained.chain, 'auth → images → watermark');
    assert.equal(chained.status, 200);
  });

  test('images refuses what is not an image itself, and a refused token before anything runs', async () => {
    const text = await call(node, 'POST', '/images/watermark', { token: hs256(keys, claims('photographer')), body: 'not an image' });
    assertStatus(text, 415, 'a text body');
    const refused = await call(node, 'POST', '/images/watermark', { token: tamperSignature(eddsa(keys, claims('photographer'))), body: 'x' });
    assertRefused(refused, 'SIGNATURE_INVALID', 'a tampered token');
    for (const r of [text, refused]) {
      const id = r.headers.get('x-request-id')!;
      // Both were answered; any stage of theirs was logged before that.
      assert.deepEqual(node.logs().filter((l) => l.parent_request_id === id && l.component === 'watermark'), [], `watermark ran for ${id}`);
    }
    assert.deepEqual(node.logs().filter((l) => l.parent_request_id === refused.headers.get('x-request-id')), [], 'images ran for a refused token');
  });

  test('watermark is reachable only by chaining: its private route is 404 from outside, its host refused', async () => {
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    for (const method of ['GET', 'POST']) {
      const r = await call(node, method, '/stamp', { body: method === 'POST' ? png : undefined, headers: { 'x-watermark-text': 'outsider' } });
      assertStatus(r, 404, `${method} /stamp`);
      assert.equal(r.json.error, 'NOT_FOUND');
    }
    const named = await withHost(node, '/stamp', 'watermark.verge.internal');
    assert.equal(named.status, 400);
    assert.equal(JSON.parse(named.body).error, 'RESERVED_HOST');
  });
});

describe('examples/composed, its auth dependency without inherit = ["files"]', { timeout: BUILD_MS + READY_MS + 5 * 60_000 }, () => {
  const keys = makeKeys();
  let node: VergeProcess;
  let dir = '';

  before(async () => {
    await buildApp();
    const manifest = readFileSync(path.join(APP, 'verge.toml'), 'utf8');
    const withoutFiles = manifest.replace('{ component = "auth", inherit = ["variables", "files"] }', '{ component = "auth", inherit = ["variables"] }');
    assert.notEqual(withoutFiles, manifest, 'the manifest names the auth dependency as this test expects');
    ({ node, dir } = await serve(keys, withoutFiles));
  });

  after(async () => {
    await node?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('cannot read the public key: EdDSA is 500 KEY_UNAVAILABLE in the api, HS256 still verifies', async () => {
    const r = await call(node, 'GET', '/api/me', { token: eddsa(keys, claims('ada')) });
    assertStatus(r, 500, 'EdDSA through the dependency');
    assert.equal(r.json.error, 'KEY_UNAVAILABLE');
    assert.match(String(r.json.message), /no files are mounted/);
    assertStatus(await call(node, 'GET', '/api/me', { token: hs256(keys, claims('ada')) }), 200, 'HS256 through the dependency');
  });

  test('while the same component as middleware reads it with its own grant', async () => {
    assertStatus(await call(node, 'GET', '/users/me', { token: eddsa(keys, claims('ada')) }), 200, 'EdDSA through the middleware');
  });
});

test("the Rust handlers pass their own unit tests (the middleware's headers, the stamp, the PNG text)", { timeout: 15 * 60_000 }, async () => {
  // Debian's toolchain, as build.sh uses: a rustup rustdoc cannot read Debian rustc's metadata.
  const env = childEnv({ RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc' });
  const cargo = spawn('/usr/bin/cargo', ['test', '--offline', '--quiet'], { cwd: path.join(APP, 'services'), env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  cargo.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  cargo.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const [code] = (await once(cargo, 'close')) as [number | null];
  assert.equal(code, 0, output);
  assert.match(output, /test result: ok\. [1-9]\d* passed/);
});
