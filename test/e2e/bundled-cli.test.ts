/**
 * bin/verge.js runs the bundle that `npm run build` writes to dist/bundle/ (scripts/bundle.ts): a
 * node's main thread and its workers load a few bundle files, not dist/src/'s modules one by one
 * nor the npm packages the bundle holds. Module loads are seen through a module hook the test
 * preloads into the node (NODE_OPTIONS=--import; workers inherit it).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { REPO_ROOT, startVerge, type VergeProcess } from '../support/verge-process.js';
import { waitFor } from '../support/wait.js';

const ROOT_URL = pathToFileURL(REPO_ROOT).href;

/** A preload that appends every module URL any thread of the process loads to `log`. */
function writeLoadRecorder(dir: string, log: string): string {
  writeFileSync(
    path.join(dir, 'hooks.mjs'),
    `import { appendFileSync } from 'node:fs';\nexport async function load(url, context, next) { appendFileSync(${JSON.stringify(log)}, url + '\\n'); return next(url, context); }\n`,
  );
  const register = path.join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
  return register;
}

describe('the bundled CLI', () => {
  let dir: string;
  let log: string;
  let node: VergeProcess;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'verge-bundled-cli-'));
    log = path.join(dir, 'loaded.log');
    const register = writeLoadRecorder(dir, log);
    const wasm = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nhello from the bundle')} (func (export "_start") (call $respond)))`);
    const app = writeApp('bundled', { hello: { route: '/...', wasm } });
    node = await startVerge(app, ['--workers', '1'], { admin: true, env: { NODE_OPTIONS: `--import ${pathToFileURL(register).href}` } });
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
    await waitFor(() => (loaded().includes(`${ROOT_URL}dist/bundle/worker.js`) ? true : undefined), 'the worker entry in the load log');
    const files = loaded();
    assert.ok(files.includes(`${ROOT_URL}dist/bundle/cli.js`), `the CLI was not loaded from the bundle:\n${files.join('\n')}`);
    const unbundled = files.filter((u) => u.startsWith(`${ROOT_URL}dist/src/`) || u.includes('/node_modules/'));
    assert.deepEqual(unbundled, [], 'modules loaded outside the bundle');
  });
});
