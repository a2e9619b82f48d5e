/**
 * bin/verge.js runs the bundle that `npm run build` writes to dist/bundle/ (scripts/bundle.ts): a
 * node's main thread and its workers load a few bundle files, not dist/src/'s modules one by one
 * nor the npm packages the bundle holds, and compile each thread's file from a V8 code cache
 * (src/code-cache.ts) once one start has made it. Module loads are seen through an ES module hook
 * and a CommonJS one the test preloads into the node (NODE_OPTIONS=--import, --require; workers
 * inherit both).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { REPO_ROOT, startVerge, type VergeProcess } from '../support/verge-process.js';
import { waitFor } from '../support/wait.js';

const ROOT_URL = pathToFileURL(REPO_ROOT).href;

/** Preloads that append the URL of every module any thread of the process imports or requires to `log`: NODE_OPTIONS for them. */
function writeLoadRecorder(dir: string, log: string): string {
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`,
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  const requires = path.join(dir, 'requires.cjs');
  writeFileSync(
    requires,
    `const Module = require('node:module'); const { appendFileSync } = require('node:fs'); const { pathToFileURL } = require('node:url');\n` +
      `const resolve = Module._resolveFilename; Module._resolveFilename = function (...args) { const file = resolve.apply(this, args); if (require('node:path').isAbsolute(file)) appendFileSync(${JSON.stringify(log)}, pathToFileURL(file).href + '\\n'); return file; };\n`,
  );
  return `--import ${pathToFileURL(register).href} --require ${requires}`;
}

/** The code cache's files, by name, with what tells a rewritten file from the same one. */
function cacheFiles(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return found;
  }
  for (const name of names) {
    const st = statSync(path.join(dir, name));
    found.set(name, `${st.ino}:${st.mtimeMs}:${st.size}`);
  }
  return found;
}

describe('the bundled CLI', () => {
  let dir: string;
  let log: string;
  let node: VergeProcess;
  let app: string;
  let env: Record<string, string>;
  let cacheDir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verge-bundled-cli-'));
    log = path.join(dir, 'loaded.log');
    cacheDir = path.join(dir, 'cache', 'code-cache');
    env = { NODE_OPTIONS: writeLoadRecorder(dir, log), VERGE_CACHE_DIR: path.join(dir, 'cache') };
    const wasm = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nhello from the bundle')} (func (export "_start") (call $respond)))`);
    app = writeApp('bundled', { hello: { route: '/...', wasm } });
    node = await startVerge(app, ['--workers', '1'], { admin: true, env });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const loaded = () => readFileSync(log, 'utf8').split('\n').filter((u) => u.startsWith('file:'));

  test('serves a module and the dashboard, its main thread and its worker loaded from dist/bundle/ only', async () => {
    const res = await fetch(`${node.url}/hi`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from the bundle');
    const page = await fetch(`${node.adminUrl}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);

    // The worker that answered loaded its entry: the record is complete for both threads.
    await waitFor(() => (loaded().includes(`${ROOT_URL}dist/bundle/worker.thread.cjs`) ? true : undefined), 'the worker entry in the load log');
    const files = loaded();
    for (const file of ['bin/verge.js', 'dist/bundle/load.cjs', 'dist/bundle/worker-spawn.cjs']) assert.ok(files.includes(`${ROOT_URL}${file}`), `${file} is not in the load log:\n${files.join('\n')}`);
    const unbundled = files.filter((u) => u.startsWith(`${ROOT_URL}dist/src/`) || u.includes('/node_modules/'));
    assert.deepEqual(unbundled, [], 'modules loaded outside the bundle');
    // Each thread's own file is not required but compiled by load.cjs, which made its code cache.
    const made = await waitFor(() => {
      const names = [...cacheFiles(cacheDir).keys()];
      return names.some((n) => n.startsWith('cli-')) && names.some((n) => n.startsWith('worker-')) ? names : undefined;
    }, 'the code cache of the CLI and of the worker');
    assert.ok(made.every((n) => /^(cli|worker|vendor-[a-z-]+)-[0-9a-f]{20}-v\d+\.\d+\.\d+-\w+\.bin$/.test(n)), `unexpected cache files: ${made.join(', ')}`);
  });

  test('a second start compiles its threads from the code cache the first one made, without writing it again', async () => {
    await waitFor(() => (cacheFiles(cacheDir).size >= 2 ? true : undefined), 'the first start\'s code cache');
    await node.stop();
    const before = cacheFiles(cacheDir);
    node = await startVerge(app, ['--workers', '1'], { env });
    const res = await fetch(`${node.url}/hi`);
    assert.equal(await res.text(), 'hello from the bundle');
    // A cache V8 had rejected (made for other source, or for another node) would be made again: renamed over, a new inode.
    assert.deepEqual(cacheFiles(cacheDir), before);
  });
});
