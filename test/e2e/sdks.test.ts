/**
 * The guest SDKs: the AssemblyScript SDK's example app built and served by the real CLI (its
 * visits counted in a real Redis), its pg module against a real PostgreSQL, the Rust crates' own
 * unit tests (the SDK and the sensor aggregator, natively, with Debian's cargo) and the Rust SDK's
 * Redis example against a real Redis.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, buildAndServe, childEnv, startVerge, type VergeProcess } from '../support/verge-process.js';
import { writeApp } from '../support/app.js';
import { PG_PASSWORD, startPostgres, type PostgresServer } from '../support/postgres.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

describe('sdk/assemblyscript example', () => {
  const app = path.join(REPO_ROOT, 'sdk', 'assemblyscript', 'example');
  let node: VergeProcess;
  let redis: RedisServer;
  before(async () => {
    redis = await startRedis();
    node = await buildAndServe(app, ['--data-dir', mkdtempSync(path.join(os.tmpdir(), 'verge-as-sdk-'))], {
      env: { VERGE_VAR_GREETING: 'Hi from the environment', VERGE_VAR_REDIS_URL: redis.url },
    });
  });
  after(async () => {
    await node?.stop();
    await redis?.stop();
  });

  test('counts visits in Redis through the connection it is granted, and may not flush it', async () => {
    assert.deepEqual(await (await fetch(`${node.url}/visits`)).json(), { visits: 1 });
    assert.deepEqual(await (await fetch(`${node.url}/visits`)).json(), { visits: 2 });
    assert.equal(await redis.cli('GET', 'visits'), '2');
    const flush = await fetch(`${node.url}/flush`);
    assert.equal(flush.status, 403);
    assert.equal(((await flush.json()) as { error: string }).error, 'ACCESS_DENIED');
    assert.equal(await redis.cli('GET', 'visits'), '2');
  });

  test('counts visits in the key-value store', async () => {
    const first = (await (await fetch(`${node.url}/count`)).json()) as { count: number };
    const second = (await (await fetch(`${node.url}/count`)).json()) as { count: number };
    assert.equal(first.count, 1);
    assert.equal(second.count, 2);
  });

  test('reads its greeting from a variable the environment overrides', async () => {
    assert.deepEqual(await (await fetch(`${node.url}/greeting`)).json(), { greeting: 'Hi from the environment' });
  });

  test("a middleware written with the SDK's next helpers answers 401 itself, or passes the request on and marks the answer", async () => {
    const refused = await fetch(`${node.url}/members/greeting`);
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('www-authenticate'), 'Bearer');
    const passed = await fetch(`${node.url}/members/greeting`, { headers: { authorization: 'Bearer letmein' } });
    assert.equal(passed.status, 200);
    assert.equal(passed.headers.get('x-gate'), 'passed');
    assert.deepEqual(await passed.json(), { greeting: 'Hi from the environment' });
  });
});

describe('the AssemblyScript SDK against PostgreSQL', () => {
  let pg: PostgresServer;
  let node: VergeProcess;
  before(async () => {
    pg = await startPostgres();
    await pg.sql('CREATE TABLE emails (email text PRIMARY KEY)');
    const fixture = path.join(REPO_ROOT, 'sdk', 'assemblyscript', 'tests', 'pg');
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-as-pg-')), 'as-pg.wasm');
    execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'asc'), ['assembly/index.ts', '--target', 'release', '--outFile', out], { cwd: fixture, stdio: 'inherit' });
    const toml = `[variables]\npg_password = { required = true, secret = true }\n\n[databases.main]\nurl = "postgres://verge:{{ pg_password }}@127.0.0.1:${pg.port}/postgres"`;
    node = await startVerge(writeApp('as-pg', { app: { route: '/...', wasm: readFileSync(out), extra: 'databases = ["main"]' } }, toml), [], { env: { VERGE_VAR_PG_PASSWORD: PG_PASSWORD } });
  });
  after(async () => {
    await node?.stop();
    await pg?.destroy();
  });

  test('sends typed parameters and reads typed values back, by column name', async () => {
    const res = await fetch(`${node.url}/types?t=${encodeURIComponent('héllo "x"')}`);
    assert.deepEqual(await res.json(), { n: -9000000000, t: 'héllo "x"', f: 2.5, b: true, raw: 2, d: '10.05', z: null, a: [1, null], types: 'int8 int4[]' });
  });

  test('a duplicate key fails with CONFLICT and SQLSTATE 23505 from lastError', async () => {
    assert.equal((await fetch(`${node.url}/insert?email=ada@example.com`)).status, 201);
    const dup = await fetch(`${node.url}/insert?email=ada@example.com`);
    assert.deepEqual([dup.status, await dup.json()], [500, { error: 'CONFLICT', sqlstate: '23505' }]);
  });

  test('a rolled-back transaction leaves nothing behind', async () => {
    assert.deepEqual(await (await fetch(`${node.url}/rolled-back`)).json(), { count: 0 });
  });
});

/** Debian's cargo and rustc (a rustup toolchain may come first on PATH and lack the std the tests need). */
function cargoTest(dir: string): { status: number | null; output: string } {
  const env = childEnv({ RUSTC: '/usr/bin/rustc', RUSTDOC: '/usr/bin/rustdoc' });
  const r = spawnSync('/usr/bin/cargo', ['test', '--offline', '--quiet'], { cwd: dir, env, encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, output: `${r.stdout}\n${r.stderr}` };
}

test('the Rust SDK passes its own unit and doc tests', { timeout: 600_000 }, () => {
  const r = cargoTest(path.join(REPO_ROOT, 'sdk', 'rust'));
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /test result: ok/);
});

test('the sensor aggregator passes its own unit tests', { timeout: 600_000 }, () => {
  const r = cargoTest(path.join(REPO_ROOT, 'examples', 'sensor-aggregator'));
  assert.equal(r.status, 0, r.output);
  assert.match(r.output, /test result: ok/);
});

describe('verge_sdk::redis (sdk/rust/examples/redis.rs) against a real Redis', () => {
  let node: VergeProcess;
  let redis: RedisServer;
  before(async () => {
    const sdk = path.join(REPO_ROOT, 'sdk', 'rust');
    // Debian's cargo and rustc with their wasm32-wasi std, as cargoTest uses them.
    const build = spawnSync('/usr/bin/cargo', ['build', '--offline', '--quiet', '--release', '--target', 'wasm32-wasi', '--example', 'redis'], {
      cwd: sdk,
      env: childEnv({ RUSTC: '/usr/bin/rustc' }),
      encoding: 'utf8',
      timeout: 600_000,
    });
    assert.equal(build.status, 0, `${build.stdout}\n${build.stderr}`);
    const wasm = readFileSync(path.join(sdk, 'target', 'wasm32-wasi', 'release', 'examples', 'redis.wasm'));
    redis = await startRedis();
    node = await startVerge(writeApp('rust-redis', { app: { route: '/...', wasm, extra: 'redis = ["cache"]' } }, `[redis.cache]\nurl = "${redis.url}"`));
  });
  after(async () => {
    await node?.stop();
    await redis?.stop();
  });

  const get = async (p: string) => {
    const res = await fetch(`${node.url}${p}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  test('counts, remembers with a time to live, collects a set and publishes', async () => {
    assert.deepEqual((await get('/visits')).body, { visits: 1 });
    assert.deepEqual((await get('/visits')).body, { visits: 2 });
    assert.deepEqual((await get('/remember?key=session&value=ada')).body, { value: 'ada', ttl: 60 });
    assert.equal(await redis.cli('GET', 'session'), 'ada');
    assert.deepEqual((await get('/tags?add=red,blue,red')).body, { added: 2, tags: ['blue', 'red'] });
    assert.deepEqual((await get('/announce?message=hi')).body, { receivers: 0 });
  });

  test('a command outside the allow-list comes back as AccessDenied and the data stays', async () => {
    const r = await get('/flush');
    assert.equal(r.status, 403);
    assert.equal(r.body.error, 'ACCESS_DENIED');
    assert.equal(await redis.cli('EXISTS', 'visits'), '1');
  });
});
