/**
 * The guest SDKs: the AssemblyScript SDK's example app built and served by the real CLI, and the
 * Rust crates' own unit tests (the SDK and the sensor aggregator, natively, with Debian's cargo).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, buildAndServe, childEnv, type VergeProcess } from '../support/verge-process.js';

describe('sdk/assemblyscript example', () => {
  const app = path.join(REPO_ROOT, 'sdk', 'assemblyscript', 'example');
  let node: VergeProcess;
  before(async () => {
    node = await buildAndServe(app, ['--data-dir', mkdtempSync(path.join(os.tmpdir(), 'verge-as-sdk-'))], { env: { VERGE_VAR_GREETING: 'Hi from the environment' } });
  });
  after(async () => {
    await node?.stop();
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
