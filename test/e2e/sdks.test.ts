/**
 * The guest SDKs: the AssemblyScript SDK's example app built and served by the real CLI, and the
 * Rust crates' own unit tests (the SDK and the sensor aggregator, natively, with Debian's cargo).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, buildAndServe, childEnv, startVerge, type VergeProcess } from '../support/verge-process.js';
import { writeApp } from '../support/app.js';
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
