/**
 * Verge as a new user gets it: `npm pack`, the tarball installed globally into a temporary
 * prefix, and `verge` run from its PATH in a folder outside the clone (new → build → up → a
 * request).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/verge-process.js';

const exec = promisify(execFile);
const NPM_MS = 180_000;

interface Installed {
  root: string;
  bin: string;
  packageDir: string;
  env: NodeJS.ProcessEnv;
}

/**
 * better-sqlite3's install script downloads a prebuilt binary from GitHub and compiles from
 * source (minutes) when it cannot. Sandboxes often cannot reach GitHub, so the test offers the
 * binary this checkout already installed where that script looks for a local prebuild first.
 */
async function localPrebuilds(root: string): Promise<string> {
  const pkg = path.join(REPO_ROOT, 'node_modules', 'better-sqlite3');
  const version = (JSON.parse(readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = path.join(root, 'prebuilds');
  mkdirSync(dir);
  const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`;
  await exec('tar', ['-czf', path.join(dir, name), '-C', pkg, 'build/Release/better_sqlite3.node']);
  return dir;
}

async function packAndInstall(): Promise<Installed> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'verge-install-'));
  // --ignore-scripts: `prepare` would rebuild dist/ under the test run that is using it; the
  // suite has just built it.
  const packed = await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', root], { cwd: REPO_ROOT, timeout: NPM_MS });
  const tarball = path.join(root, packed.stdout.trim().split('\n').at(-1)!);
  const prefix = path.join(root, 'prefix');
  const env = { ...process.env, npm_config_better_sqlite3_local_prebuilds: await localPrebuilds(root) };
  await exec('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: root, env, timeout: NPM_MS });
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string };
  return {
    root,
    bin: path.join(prefix, 'bin'),
    packageDir: path.join(prefix, 'lib', 'node_modules', pkg.name),
    env: { ...process.env, PATH: `${path.join(prefix, 'bin')}${path.delimiter}${process.env.PATH ?? ''}` },
  };
}

/** Runs `verge` by name, found on PATH as a user's shell would. */
function verge(installed: Installed, args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return exec('verge', args, { cwd, env: installed.env, timeout: NPM_MS }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? null, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }),
  );
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' });
}

describe('verge installed from a packed tarball', { timeout: 600_000 }, () => {
  let installed: Installed;
  let work: string;
  before(async () => {
    installed = await packAndInstall();
    work = path.join(installed.root, 'work');
    mkdirSync(work);
  });
  after(() => {
    if (installed) rmSync(installed.root, { recursive: true, force: true });
  });

  test('`verge --version` prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    const run = await verge(installed, ['--version'], work);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout.trim(), version);
  });

  test('the package holds the bundled CLI and what it reads at run time, and no tests, fixtures or unbundled modules', () => {
    const files = listFiles(installed.packageDir).filter((f) => !f.startsWith('node_modules'));
    for (const needed of ['bin/verge.js', 'dist/bundle/cli.cjs', 'dist/bundle/load.cjs', 'dist/bundle/worker-spawn.cjs', 'dist/bundle/worker.cjs', 'dist/bundle/worker.thread.cjs', 'dist/bundle/export-thread.cjs', 'dist/bundle/export-thread.thread.cjs', 'dist/bundle/vendor-undici.cjs', 'templates/ts-http/app.toml.txt', 'toolchain/js/package-lock.json', 'toolchain/js/runner.mjs', 'wit/world.wit', 'sdk/typescript/wasi.d.ts', 'sdk/rust/Cargo.toml', 'templates/rust/app.toml.txt', 'src/dashboard/web/index.html', 'src/dashboard/web/dashboard.css', 'dist/src/dashboard/web/main.js']) {
      assert.ok(files.includes(needed), `${needed} is missing from the package`);
    }
    // The bundle is all the installed CLI runs (the dashboard's browser scripts aside): without dist/src/, the serving test below proves it needs nothing else.
    const unwanted = files.filter((f) => /\.test\.js$|fixtures?\.js$|^dist\/(test|bench|examples|scripts)\/|^dist\/src\/(?!dashboard$|dashboard\/web($|\/))|^test\/|^examples\//.test(f));
    assert.deepEqual(unwanted, []);
  });

  test('from a folder outside the clone, verge new, verge build and verge up serve the template', async () => {
    const made = await verge(installed, ['new', 'ts-http', 'hello'], work);
    assert.equal(made.code, 0, made.stderr);
    assert.match(made.stderr, /^Next: cd hello && verge build && verge up$/m);
    const app = path.join(work, 'hello');
    const built = await verge(installed, ['build'], app);
    assert.equal(built.code, 0, built.stderr);
    assert.ok(existsSync(path.join(app, 'hello.wasm')));

    const up = spawn('verge', ['up', '--listen', '127.0.0.1:0'], { cwd: app, env: installed.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    up.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = once(up, 'exit');
    try {
      const deadline = Date.now() + 60_000;
      while (!/Serving hello on (http:\/\/\S+)/.test(stderr)) {
        assert.equal(up.exitCode, null, `verge up exited:\n${stderr}`);
        assert.ok(Date.now() < deadline, `verge up did not start:\n${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /Serving hello on (http:\/\/\S+)/.exec(stderr)![1]!;
      const res = await fetch(`${url}/anything`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { message: 'Hello from hello!', method: 'GET', path: '/anything' });
    } finally {
      up.kill('SIGTERM');
      const timer = setTimeout(() => up.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
  });
});
