/**
 * The JS component toolchain (ComponentizeJS, jco, esbuild, TypeScript). It cannot be a dependency
 * of Verge itself: its platform packages make `npm ci` refuse Verge's lockfile. So Verge ships a
 * pinned manifest (toolchain/js/package.json + lock) and installs it on first use into a cache
 * folder named by the manifest's hash; after that, builds are offline.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { packagePath } from '../package-files.js';
import { VergeError } from '../errors.js';

/** The shipped manifest, runner and WIT. */
export const JS_TOOLCHAIN_SOURCE = packagePath('toolchain/js/');

const MARKER = '.verge-toolchain.json';

/** Files in the install that must exist for it to count as installed (checked on every build). */
const REQUIRED = [
  'node_modules/@bytecodealliance/componentize-js/package.json',
  'node_modules/@bytecodealliance/jco/package.json',
  'node_modules/esbuild/package.json',
  'node_modules/typescript/package.json',
];

export interface JsToolchain {
  /** The installed folder (its node_modules hold the pinned packages). */
  dir: string;
  /** runner.mjs inside `dir`: `node runner.mjs <stage> '<json>'` runs one build stage. */
  runner: string;
  /** jco's CLI (`node <jcoCli> transpile|serve|...`). */
  jcoCli: string;
  /** The TypeScript compiler's CLI. */
  tscCli: string;
  versions: Readonly<Record<string, string>>;
}

export interface ToolchainOptions {
  /** Where installs live; default $VERGE_TOOLCHAIN_DIR, else ~/.cache/verge/toolchains. */
  cacheDir?: string;
  /** The folder holding package.json, package-lock.json and runner.mjs; default toolchain/js. */
  sourceDir?: string;
}

export function toolchainCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VERGE_TOOLCHAIN_DIR ?? path.join(os.homedir(), '.cache', 'verge', 'toolchains');
}

/** `js-` and the first 12 hex digits of sha256(package.json + package-lock.json). */
export function toolchainKey(sourceDir: string): string {
  const h = createHash('sha256');
  h.update(readFileSync(path.join(sourceDir, 'package.json')));
  h.update(readFileSync(path.join(sourceDir, 'package-lock.json')));
  return `js-${h.digest('hex').slice(0, 12)}`;
}

/**
 * The installed toolchain, installing it first if needed. Safe to race from several processes:
 * each installs into its own temporary sibling and renames it into place; a loser finds the
 * winner's folder, checks it, and discards its own copy.
 */
export async function ensureJsToolchain(log: (line: string) => void, opts: ToolchainOptions = {}): Promise<JsToolchain> {
  const sourceDir = opts.sourceDir ?? JS_TOOLCHAIN_SOURCE;
  const cacheDir = opts.cacheDir ?? toolchainCacheDir();
  const dir = path.join(cacheDir, toolchainKey(sourceDir));
  const versions = pinnedVersions(sourceDir);
  if (!jsToolchainInstalled(dir)) await install(sourceDir, cacheDir, dir, versions, log);
  await syncRunner(sourceDir, dir);
  return describe(dir, versions);
}

/** jco's CLI from the toolchain, installing it first if needed (for tests and benches). */
export async function jcoCliPath(log: (line: string) => void = () => {}, opts: ToolchainOptions = {}): Promise<string> {
  return (await ensureJsToolchain(log, opts)).jcoCli;
}

function describe(dir: string, versions: Record<string, string>): JsToolchain {
  return {
    dir,
    runner: path.join(dir, 'runner.mjs'),
    jcoCli: path.join(dir, 'node_modules/@bytecodealliance/jco', binOf(dir, '@bytecodealliance/jco', 'jco')),
    tscCli: path.join(dir, 'node_modules/typescript', binOf(dir, 'typescript', 'tsc')),
    versions: Object.freeze(versions),
  };
}

function binOf(dir: string, pkg: string, name: string): string {
  const json = JSON.parse(readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof json.bin === 'string' ? json.bin : json.bin?.[name];
  if (!bin) throw new VergeError('BUILD_FAILED', `the JS toolchain in ${dir}: ${pkg} has no "${name}" bin`);
  return bin;
}

function pinnedVersions(sourceDir: string): Record<string, string> {
  const json = JSON.parse(readFileSync(path.join(sourceDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return { ...json.dependencies };
}

/** The install in `dir` is complete: its marker and the packages a build needs (also `verge doctor`'s check). */
export function jsToolchainInstalled(dir: string): boolean {
  return existsSync(path.join(dir, MARKER)) && REQUIRED.every((f) => existsSync(path.join(dir, f)));
}

async function install(sourceDir: string, cacheDir: string, dir: string, versions: Record<string, string>, log: (line: string) => void): Promise<void> {
  const started = performance.now();
  const named = ['@bytecodealliance/componentize-js', '@bytecodealliance/jco']
    .map((p) => `${p.replace('@bytecodealliance/', '')} ${versions[p] ?? '?'}`)
    .join(', ');
  log(`Installing the JS component toolchain (${named}) into ${dir}, once…`);
  mkdirSync(cacheDir, { recursive: true });
  const tmp = await mkdtemp(`${dir}.installing-`);
  try {
    await cp(path.join(sourceDir, 'package.json'), path.join(tmp, 'package.json'));
    await cp(path.join(sourceDir, 'package-lock.json'), path.join(tmp, 'package-lock.json'));
    await npmInstall(tmp);
    if (!REQUIRED.every((f) => existsSync(path.join(tmp, f)))) {
      throw new VergeError('BUILD_FAILED', `installing the JS toolchain in ${tmp}: npm install finished but ${REQUIRED.join(', ')} are not all there`);
    }
    await writeFile(path.join(tmp, MARKER), JSON.stringify({ versions, installedAt: new Date().toISOString() }) + '\n');
    await moveIntoPlace(tmp, dir);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  log(`Installed the JS component toolchain in ${seconds(performance.now() - started)}.`);
}

/** rename() is atomic; if another process got there first, keep theirs (or replace a broken one). */
async function moveIntoPlace(tmp: string, dir: string): Promise<void> {
  try {
    await rename(tmp, dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
  }
  if (jsToolchainInstalled(dir)) return;
  // A folder without the marker: an install from before this code, or damaged by hand.
  await rm(dir, { recursive: true, force: true });
  await rename(tmp, dir).catch(async (err: NodeJS.ErrnoException) => {
    if ((err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') || !jsToolchainInstalled(dir)) throw err;
  });
}

function npmInstall(cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const child = spawn(npm, ['install', '--no-audit', '--no-fund', '--ignore-scripts=false', '--loglevel=error'], {
      cwd,
      env: { ...process.env, npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) =>
      reject(new VergeError('BUILD_FAILED', `installing the JS toolchain: could not start npm (${err.message}); Node's npm must be on PATH`)),
    );
    child.on('exit', (code, signal) => {
      if (code === 0) return resolve();
      const tail = output.trim().split('\n').slice(-20).join('\n');
      reject(
        new VergeError(
          'BUILD_FAILED',
          `installing the JS toolchain: npm install in ${cwd} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}` +
            ` (the first build needs the npm registry; later builds are offline):\n${tail}`,
        ),
      );
    });
  });
}

/** The runner is not part of the cache key, so an updated Verge brings its runner to an old install. */
async function syncRunner(sourceDir: string, dir: string): Promise<void> {
  const wanted = await readFile(path.join(sourceDir, 'runner.mjs'));
  const target = path.join(dir, 'runner.mjs');
  const current = await readFile(target).catch(() => undefined);
  if (current?.equals(wanted)) return;
  // Unique per call: builds running at once in one process (several components) each sync it.
  const tmp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, wanted);
  await rename(tmp, target);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
