/**
 * `verge up --watch` on the AssemblyScript hello example, copied to a temp folder: an edit to
 * assembly/index.ts is served without a restart, a broken source keeps the old answer and prints
 * the compiler's error, and the fix is served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, startVerge, type VergeProcess } from '../support/verge-process.js';

let root: string;
let app: string;
let node: VergeProcess;

before(async () => {
  root = mkdtempSync(path.join(os.tmpdir(), 'verge-watch-'));
  // The example's asconfig extends ../../node_modules/...: keep that shape.
  app = path.join(root, 'examples', 'hello');
  cpSync(path.join(REPO_ROOT, 'examples', 'hello'), app, { recursive: true, filter: (src) => !/[/\\](build|node_modules|\.verge)$/.test(src) });
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(root, 'node_modules'));
  // A fresh copy with no build output: --watch builds it first, as a newcomer's first run does.
  node = await startVerge(app, ['--watch'], { readyMs: 120_000 });
});

after(async () => {
  await node?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function waitFor(what: string, ms: number, check: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}\n${node.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const hello = async () => (await (await fetch(`${node.url}/api/hello`)).json()) as { message: string };
/** What verge printed, without the colours a compiler may add to its own lines. */
const printed = () => node.stderr().replace(/\x1b\[[0-9;]*m/g, '');
const reloads = () => (node.stderr().match(/^Reloaded hello in \d+ ms: version [0-9a-f]{12} \(changed: .*assembly\/index\.ts; rebuilt hello\)$/gm) ?? []).length;

test('an edit to the AssemblyScript source is rebuilt and served, a broken one keeps the old answer, the fix is served', async () => {
  await waitFor('the watcher', 10_000, () => node.stderr().includes('Watching'));
  assert.deepEqual(await hello(), { message: 'Hello from Wasm!' });
  const entry = path.join(app, 'assembly', 'index.ts');
  const good = readFileSync(entry, 'utf8');

  writeFileSync(entry, good.replace('Hello from Wasm!', 'Hello, edited!'));
  await waitFor('the edit to be served', 120_000, () => reloads() === 1);
  assert.deepEqual(await hello(), { message: 'Hello, edited!' });

  writeFileSync(entry, good.replace('Hello from Wasm!', 'Broken').concat('\nbroken(\n'));
  await waitFor('the build error', 120_000, () => node.stderr().includes('Reload failed'));
  assert.match(printed(), /ERROR TS\d+/);
  assert.match(printed(), /exited with code 1\n\(BUILD_FAILED\)/);
  assert.deepEqual(await hello(), { message: 'Hello, edited!' }, 'the last good version keeps serving');

  writeFileSync(entry, good);
  await waitFor('the fix to be served', 120_000, () => reloads() === 2);
  assert.deepEqual(await hello(), { message: 'Hello from Wasm!' });
});
