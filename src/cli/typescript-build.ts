/**
 * `verge build` for `[component.NAME.build] typescript = "src/index.ts"`: type-check, bundle into
 * one ESM file, componentize against Verge's WIT world. Each stage runs the installed toolchain
 * in a child process (toolchain.ts), so Verge's own process never loads it.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { packagePath } from '../package-files.js';
import { VergeError } from '../errors.js';
import type { ComponentConfig } from '../manifest/config.js';
import { ensureJsToolchain, seconds, type JsToolchain, type ToolchainOptions } from './toolchain.js';

export const WIT_DIR = packagePath('wit/');
export const WIT_WORLD = 'http';
/** Declarations for the wasi:* imports, added to the type-check when the project has no tsconfig. */
export const WASI_TYPES = packagePath('sdk/typescript/wasi.d.ts');

/** How often the componentize stage says it is still running. */
const HEARTBEAT_MS = 4000;

type TypescriptBuild = Extract<NonNullable<ComponentConfig['build']>, { kind: 'typescript' }>;

export interface TypescriptBuildOptions extends ToolchainOptions {
  heartbeatMs?: number;
  /** Aborting kills the running stage (a newer change made this build stale). */
  signal?: AbortSignal | undefined;
}

export async function buildTypescript(c: ComponentConfig, log: (line: string) => void, opts: TypescriptBuildOptions = {}): Promise<void> {
  const build = c.build;
  if (build?.kind !== 'typescript') throw new Error(`component ${c.name} has no TypeScript build`);
  const started = performance.now();
  const toolchain = await ensureJsToolchain(log, opts);
  if (!existsSync(build.entry)) throw new VergeError('BUILD_FAILED', `component ${c.name}: the entry file ${build.entry} does not exist`);
  log(`Building component ${c.name} from ${shown(build.entry)} (TypeScript → wasi:http component)`);

  await typecheckStage(c, build, toolchain, log, opts.signal);

  const bundle = path.join(build.workdir, '.verge', 'build', `${c.name}.js`);
  const bundled = await stage(c, toolchain, log, 'bundle', { entry: build.entry, outfile: bundle }, { signal: opts.signal });
  for (const w of (bundled.warnings as string[] | undefined) ?? []) log(`    warning: ${w}`);
  log(`  bundle        ${pad(bundled.ms)}  ${shown(bundle)}, ${kib(bundled.bytes as number)} from ${bundled.inputs as number} files`);

  const world = writeWorld(c, path.join(build.workdir, '.verge', 'build', `wit-${c.name}`), (bundled.wasiImports as string[] | undefined) ?? []);
  const component = await stage(
    c,
    toolchain,
    log,
    'componentize',
    { bundle, witPath: world.dir, worldName: WIT_WORLD, outfile: c.source },
    { heartbeatMs: opts.heartbeatMs ?? HEARTBEAT_MS, cwd: path.dirname(bundle), signal: opts.signal },
  );
  log(`  componentize  ${pad(component.ms)}  wasi:http/proxy${world.extra.length > 0 ? ` + ${world.extra.join(', ')}` : ''}`);
  log(`Built ${shown(c.source)}: ${mb(statSync(c.source).size)} in ${seconds(performance.now() - started)}`);
}

async function typecheckStage(c: ComponentConfig, build: TypescriptBuild, toolchain: JsToolchain, log: (line: string) => void, signal: AbortSignal | undefined): Promise<void> {
  const tsconfig = findTsconfig(build.entry, build.workdir);
  if (!tsconfig && !/\.[cm]?ts$/.test(build.entry)) {
    log('  type-check    skipped: a JavaScript entry and no tsconfig.json');
    return;
  }
  const checked = await stage(c, toolchain, log, 'typecheck', { entry: build.entry, tsconfig, defaultTypes: [WASI_TYPES] }, { signal });
  log(`  type-check    ${pad(checked.ms)}  ${tsconfig ? shown(tsconfig) : 'strict defaults (no tsconfig.json)'}, ${checked.files as number} files`);
}

/** Interfaces beyond wasi:http/proxy that Verge provides and a handler may import (wit/world.wit lists them all). */
export const EXTRA_INTERFACES: readonly string[] = [
  'wasi:keyvalue/store@0.2.0-draft2',
  'wasi:keyvalue/atomics@0.2.0-draft2',
  'wasi:keyvalue/batch@0.2.0-draft2',
  'wasi:config/store@0.2.0-draft',
  'wasi:logging/logging@0.1.0-draft',
  // The files the component mounts (`files`), read-only.
  'wasi:filesystem/preopens@0.2.10',
  'wasi:filesystem/types@0.2.10',
  'spin:postgres/postgres@4.1.0',
  'fermyon:spin/redis@2.0.0',
];
/** Packages whose interfaces wasi:http/proxy already brings. */
const PROXY_PACKAGES = /^wasi:(http|io|clocks|random|cli)\//;

/**
 * The world to componentize against: wasi:http/proxy plus only the extra interfaces the bundle
 * imports. ComponentizeJS imports everything its world lists, used or not, and a component that
 * imports wasi:keyvalue or wasi:config does not run on a plain wasi:http host (jco serve,
 * wasmtime serve): a handler that uses only wasi:http stays portable.
 */
export function writeWorld(c: ComponentConfig, dir: string, wasiImports: readonly string[]): { dir: string; extra: string[] } {
  const extra = wasiImports.filter((i) => !PROXY_PACKAGES.test(i));
  const unknown = extra.filter((i) => !EXTRA_INTERFACES.includes(i));
  if (unknown.length > 0) {
    throw new VergeError(
      'BUILD_FAILED',
      `component ${c.name}: imports ${unknown.join(', ')}, which Verge does not provide; beyond wasi:http/proxy@0.2.10 it provides ${EXTRA_INTERFACES.join(', ')} (docs/components.md)`,
    );
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(path.join(WIT_DIR, 'deps'), path.join(dir, 'deps'), { recursive: true });
  const lines = [
    '// Written by `verge build`: wasi:http/proxy plus the interfaces this handler imports.',
    'package verge:handler;',
    '',
    `world ${WIT_WORLD} {`,
    '  include wasi:http/proxy@0.2.10;',
    ...extra.map((i) => `  import ${i};`),
    '}',
    '',
  ];
  writeFileSync(path.join(dir, 'world.wit'), lines.join('\n'));
  return { dir, extra };
}

/** The nearest tsconfig.json from the entry's folder up to `top` (never above: no parent project's). */
export function findTsconfig(entry: string, top: string): string | undefined {
  let dir = path.dirname(entry);
  const inside = !path.relative(top, dir).startsWith('..');
  for (;;) {
    const candidate = path.join(dir, 'tsconfig.json');
    if (existsSync(candidate)) return candidate;
    if (!inside || dir === top || path.dirname(dir) === dir) return undefined;
    dir = path.dirname(dir);
  }
}

interface StageResult extends Record<string, unknown> {
  ms: number;
}

/** One runner stage; user errors (exit 2) become BUILD_FAILED with the diagnostics, one a line. */
function stage(
  c: ComponentConfig,
  toolchain: JsToolchain,
  log: (line: string) => void,
  name: 'typecheck' | 'bundle' | 'componentize',
  args: Record<string, unknown>,
  opts: { heartbeatMs?: number; cwd?: string; signal?: AbortSignal | undefined } = {},
): Promise<StageResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [toolchain.runner, name, JSON.stringify({ ...args, cwd: process.cwd() })], {
      cwd: opts.cwd ?? toolchain.dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: opts.signal,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const heartbeat = opts.heartbeatMs
      ? setInterval(() => log(`  still ${name === 'componentize' ? 'componentizing' : name}… ${Math.round((performance.now() - started) / 1000)}s`), opts.heartbeatMs)
      : undefined;
    child.on('error', (err) => {
      clearInterval(heartbeat);
      reject(new VergeError('BUILD_FAILED', `component ${c.name}: could not start the ${name} stage: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearInterval(heartbeat);
      const ms = performance.now() - started;
      const last = stdout.trim().split('\n').pop() ?? '';
      let result: { ok?: boolean; diagnostics?: string[] } & Record<string, unknown> = {};
      try {
        result = JSON.parse(last) as typeof result;
      } catch {
        // Not our JSON: the toolchain itself failed; reported below with its stderr.
      }
      if (code === 0 && result.ok) return resolve({ ...result, ms });
      if (code === 2 && result.diagnostics) {
        const label = { typecheck: 'type errors', bundle: 'bundling failed', componentize: 'componentize failed' }[name];
        return reject(new VergeError('BUILD_FAILED', `component ${c.name}: ${label}:\n${result.diagnostics.map((d) => `  ${d}`).join('\n')}`));
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      reject(new VergeError('BUILD_FAILED', `component ${c.name}: the ${name} stage ${how}:\n${(stderr || stdout).trim()}`));
    });
  });
}

function shown(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel.startsWith('..') || rel === '' ? file : rel;
}

function pad(ms: number): string {
  return seconds(ms).padStart(6);
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
