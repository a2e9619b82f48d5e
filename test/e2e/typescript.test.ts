/**
 * A TypeScript handler from `verge new ts-http` to a served response, through the real CLI: the
 * real toolchain (installed on first use into the shared cache) and one real componentize run.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startVerge, VERGE_BIN, type VergeProcess } from '../support/verge-process.js';

/** Like runVerge, but with the caller's whole environment: the first build runs npm install. */
function verge(args: string[], cwd: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [VERGE_BIN, ...args], { cwd, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.on('error', reject);
    proc.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('verge new ts-http → verge build → verge up', () => {
  let root: string;
  let app: string;
  let build: { code: number | null; stderr: string };

  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'verge-ts-e2e-'));
    app = path.join(root, 'hello-ts');
    const made = await verge(['new', 'ts-http', 'hello-ts'], root);
    assert.equal(made.code, 0, made.stderr);
    build = await verge(['build'], app);
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  test('the build succeeds with a line per stage and a final size and time', () => {
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stderr, /^ {2}type-check +\d+\.\d s {2}tsconfig\.json/m);
    assert.match(build.stderr, /^ {2}bundle +\d+\.\d s /m);
    assert.match(build.stderr, /^ {2}componentize +\d+\.\d s /m);
    assert.match(build.stderr, /^Built hello-ts\.wasm: \d+\.\d MiB in \d+\.\d s$/m);
  });

  test('the output is a WebAssembly component', () => {
    const bytes = readFileSync(path.join(app, 'hello-ts.wasm'));
    assert.deepEqual([...bytes.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
    assert.deepEqual([...bytes.subarray(4, 8)], [0x0d, 0x00, 0x01, 0x00], 'component layer, not a core module');
  });

  test('a type error fails the build with file:line:col and exit code 1, and the toolchain is not installed again', async () => {
    const entry = path.join(app, 'src/index.ts');
    const good = readFileSync(entry, 'utf8');
    writeFileSync(entry, good.replace('status: 200,', "status: '200',"));
    try {
      const bad = await verge(['build'], app);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /^ {2}src\/index\.ts:\d+:\d+ error TS2322: Type 'string' is not assignable to type 'number'\.$/m);
      assert.match(bad.stderr, /component hello-ts: type errors/);
      assert.match(bad.stderr, /\(BUILD_FAILED\)/);
      assert.doesNotMatch(bad.stderr, /Installing the JS component toolchain/);
    } finally {
      writeFileSync(entry, good);
    }
  });

  test('verge check passes the template without advising instance_reuse: its fetch-event handler cannot reuse instances', async () => {
    assert.equal(build.code, 0, build.stderr);
    const check = await verge(['check'], app);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /ok {2}hello-ts: wasi:http component \(fetch-event handler\), .*a fresh instance per request/);
    assert.doesNotMatch(check.stderr, /instance_reuse =/);
    assert.doesNotMatch(check.stderr, /^warn/m);
  });

  test('instance_reuse = 2 on the template is refused at load, saying why and what to change', async () => {
    assert.equal(build.code, 0, build.stderr);
    const manifest = path.join(app, 'verge.toml');
    const good = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, good.replace('source = "hello-ts.wasm"', 'source = "hello-ts.wasm"\ninstance_reuse = 2'));
    try {
      for (const command of [['check'], ['up', '--listen', '127.0.0.1:0']]) {
        const refused = await verge(command, app);
        assert.equal(refused.code, 1, `verge ${command[0]}: ${refused.stderr}`);
        assert.match(refused.stderr, /component hello-ts \(.*hello-ts\.wasm\): instance_reuse = 2 cannot work for this component: it is a fetch-event handler \(addEventListener\('fetch', \.\.\.\)/);
        assert.match(refused.stderr, /every later one fails with "respondWith can't be called twice" \(502\)/);
        assert.match(refused.stderr, /Remove instance_reuse/);
      }
    } finally {
      writeFileSync(manifest, good);
    }
  });

  test('verge new refuses a folder that is not empty', async () => {
    const again = await verge(['new', 'ts-http', 'hello-ts'], root);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /is not empty: refusing/);
  });

  test('verge up serves the handler: GET returns the scaffold JSON', async () => {
    assert.equal(build.code, 0, build.stderr);
    let node: VergeProcess | undefined;
    try {
      node = await startVerge(app);
      const res = await fetch(`${node.url}/some/path?q=1`);
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), { message: 'Hello from hello-ts!', method: 'GET', path: '/some/path' });
    } finally {
      await node?.stop();
    }
  });

  test('verge up --watch serves an edit of the handler, keeps the old answer while the source does not type-check, and serves the fix', async () => {
    assert.equal(build.code, 0, build.stderr);
    const entry = path.join(app, 'src/index.ts');
    const good = readFileSync(entry, 'utf8');
    const node = await startVerge(app, ['--watch'], { readyMs: 90_000 }); // --watch componentizes first: ~5 s alone, 20 s and more on a loaded machine
    const message = async () => ((await (await fetch(`${node.url}/`)).json()) as { message: string }).message;
    const reloads = () => (node.stderr().match(/^Reloaded hello-ts in \d+ ms: version [0-9a-f]{12} \(changed: .*src\/index\.ts; rebuilt hello-ts\)$/gm) ?? []).length;
    try {
      await waitFor('the watcher', 10_000, () => node.stderr().includes('Watching'));
      writeFileSync(entry, good.replace('Hello from', 'Edited by'));
      await waitFor('the edit to be served', 90_000, () => reloads() === 1);
      assert.equal(await message(), 'Edited by hello-ts!');

      writeFileSync(entry, good.replace('status: 200,', "status: '200',"));
      await waitFor('the build error', 90_000, () => node.stderr().includes('Reload failed'));
      assert.match(node.stderr(), /error TS2322/);
      assert.equal(await message(), 'Edited by hello-ts!', 'the last good version keeps serving');

      writeFileSync(entry, good);
      await waitFor('the fix to be served', 90_000, () => reloads() === 2);
      assert.equal(await message(), 'Hello from hello-ts!');
    } finally {
      writeFileSync(entry, good);
      await node.stop();
    }
  });
});

async function waitFor(what: string, ms: number, check: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
