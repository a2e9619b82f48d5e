/**
 * `verge deploy`, `verge versions`, `verge rollback`, `verge status`: the admin API from a shell or
 * a CI job. Deploy bundles the app (signing it first when given a key), uploads it with a
 * progress line, activates it at the asked weight beside the current version, and waits until
 * the new version answers its health path. Exit codes: admin-client.ts EXIT.
 */
import { PassThrough } from 'node:stream';
import { loadManifest } from '../manifest/load.js';
import { packBundle } from '../bundle/pack.js';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../manifest/config.js';
import { appRelative } from '../loader/app-version.js';
import { dependencyFiles } from '../manifest/dependencies.js';
import { readSigningKey, signManifest, signModuleDetached } from '../signing/index.js';
import { AdminCallError, EXIT, call, type AdminTarget } from './admin-client.js';

type Say = (line: string) => void;

export interface DeployOptions {
  path: string;
  target: AdminTarget;
  /** Percent of the traffic for the new version (1–100); the current version keeps the rest. */
  weight: number;
  /** A private key: sign every module and the manifest before bundling. */
  key?: string | undefined;
  /** Sticky assignment for the split: header:NAME, cookie:NAME or client. */
  sticky?: string | undefined;
  /** A path on the node's public listener that the new version must answer with a 2xx. */
  health?: string | undefined;
  healthTimeoutMs?: number;
  say: Say;
  progress: boolean;
}

interface VersionJson {
  id: string;
  weight: number;
  live: boolean;
  created: string;
  size: number;
  signers: string[];
}

export async function deploy(o: DeployOptions): Promise<string> {
  const app = loadManifest(o.path);
  const extraFiles = o.key ? await signAppForDeploy(app, o.key, o.say) : [];
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const packed = await packBundle(app.file, out, { extraFiles });
  const bundle = Buffer.concat(chunks);
  o.say(`Bundled ${app.name}: ${packed.files.length} files, ${bundle.length} bytes, version ${packed.id.slice(0, 12)}`);

  const uploaded = await call<{ created: boolean; version: VersionJson }>(o.target, `/v1/apps/${app.name}/versions`, {
    method: 'POST',
    body: bundle,
    contentType: 'application/gzip',
    onProgress: o.progress ? progressLine(o.say, bundle.length) : undefined,
  });
  const id = uploaded.body.version.id;
  o.say(uploaded.body.created ? `Uploaded version ${id.slice(0, 12)}` : `Version ${id.slice(0, 12)} was on the node already`);

  const versions = await nextSplit(o.target, app.name, id, o.weight);
  const request: Record<string, unknown> = { versions };
  if (o.sticky) request.sticky = parseStickyFlag(o.sticky);
  await call(o.target, `/v1/apps/${app.name}/deployment`, { method: 'PUT', json: request });
  o.say(`Deployed ${app.name}: ${versions.map((v) => `${v.id.slice(0, 12)} ${v.weight}%`).join(', ')}`);

  if (o.health) await waitHealthy(o.target, id, o.health, o.healthTimeoutMs ?? 30_000, o.say);
  return id;
}

/** The new version at `weight` percent; the current heaviest version keeps the rest (none below 100 %). */
async function nextSplit(target: AdminTarget, app: string, id: string, weight: number): Promise<Array<{ id: string; weight: number }>> {
  if (weight >= 100) return [{ id, weight: 100 }];
  let current: Array<{ id: string; weight: number }> = [];
  try {
    current = ((await call<{ versions: Array<{ id: string; weight: number }> }>(target, `/v1/apps/${app}/deployment`)).body.versions ?? []);
  } catch (err) {
    if (!(err instanceof AdminCallError && err.code === 'APP_NOT_FOUND')) throw err;
  }
  const stable = current.filter((v) => v.id !== id).sort((a, b) => b.weight - a.weight)[0];
  if (!stable) throw new AdminCallError(`app ${app} has no deployed version to share the traffic with; deploy it at 100 % first (omit --weight)`, EXIT.usage);
  return [
    { id: stable.id, weight: 100 - weight },
    { id, weight },
  ];
}

/**
 * Detached signatures beside the manifest (verge.toml.sig) and each module (<module>.sig), added to
 * any already there; returns their paths for the bundle.
 */
async function signAppForDeploy(app: AppConfig, keyFile: string, say: Say): Promise<string[]> {
  if (path.basename(app.file) !== 'verge.toml') throw new AdminCallError(`--key: the manifest must be named verge.toml to be signed (it is ${app.file})`, EXIT.usage);
  const key = readSigningKey(keyFile);
  const existing = (file: string) => (existsSync(file) ? new Uint8Array(readFileSync(file)) : undefined);
  const written: string[] = [];
  const manifestSig = `${app.file}.sig`;
  writeFileSync(manifestSig, signManifest(readFileSync(app.file), key, existing(manifestSig), app.file).signature);
  written.push(appRelative(app, manifestSig));
  for (const source of new Set([...[...app.components.values()].map((c) => c.source), ...dependencyFiles(app).map((f) => f.source)])) {
    const sig = `${source}.sig`;
    writeFileSync(sig, signModuleDetached(new Uint8Array(readFileSync(source)), key, existing(sig), source).signature);
    written.push(appRelative(app, sig));
  }
  say(`Signed ${written.length} files with key ${key.keyId}`);
  return written;
}

export function parseStickyFlag(value: string): Record<string, string> {
  if (value === 'client' || value === 'cookie') return { kind: value };
  const m = /^(header|cookie):(.+)$/.exec(value);
  if (!m) throw new AdminCallError(`--sticky ${value}: expected header:NAME, cookie, cookie:NAME or client`, EXIT.usage);
  return { kind: m[1]!, name: m[2]! };
}

/** Asks the node for its public URL, then requests the health path on the new version (forced with the override header) until a 2xx. */
async function waitHealthy(target: AdminTarget, id: string, healthPath: string, timeoutMs: number, say: Say): Promise<void> {
  const node = (await call<{ url: string }>(target, '/v1/node')).body;
  const url = new URL(healthPath, node.url);
  const headers: Record<string, string> = { 'x-verge-version': id };
  if (target.token) headers['x-verge-admin-token'] = target.token;
  const until = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < until) {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(Math.max(1, Math.min(5000, until - Date.now()))) });
      await res.arrayBuffer();
      const served = res.headers.get('x-verge-version') ?? '';
      if (res.ok && id.startsWith(served) && served !== '') {
        say(`Healthy: ${url.pathname} answered ${res.status} from version ${served}`);
        return;
      }
      last = `${res.status} from version ${served || 'unknown'}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new AdminCallError(`version ${id.slice(0, 12)} did not answer ${url.href} with a 2xx within ${timeoutMs} ms (last: ${last})`, EXIT.unhealthy);
}

function progressLine(say: Say, total: number): (sent: number) => void {
  let shown = -1;
  return (sent) => {
    const pct = Math.floor((sent / total) * 100);
    if (pct === shown || (pct < 100 && pct - shown < 10)) return;
    shown = pct;
    const bar = '#'.repeat(Math.round(pct / 5)).padEnd(20, '.');
    say(`Uploading [${bar}] ${pct}% (${sent}/${total} bytes)`);
  };
}

export async function listVersions(target: AdminTarget, app: string, print: Say): Promise<void> {
  const { body } = await call<{ versions: VersionJson[] }>(target, `/v1/apps/${app}/versions`);
  if (body.versions.length === 0) return print(`app ${app} has no uploaded version`);
  print('ID            CREATED                   SIZE       WEIGHT  SIGNERS');
  for (const v of body.versions) {
    print(`${v.id.slice(0, 12)}  ${v.created.padEnd(24)}  ${String(v.size).padStart(9)}  ${v.live ? `${v.weight}`.padStart(6) : '     -'}  ${v.signers.join(',') || '-'}`);
  }
}

export async function rollback(target: AdminTarget, app: string, version: string | undefined, say: Say): Promise<void> {
  const { body } = await call<{ versions: Array<{ id: string; weight: number }> }>(target, `/v1/apps/${app}/rollback`, { method: 'POST', json: version ? { version } : {} });
  say(`Rolled back ${app}: ${body.versions.map((v) => `${v.id.slice(0, 12)} ${v.weight}%`).join(', ')}`);
}

export async function status(target: AdminTarget, app: string | undefined, print: Say): Promise<void> {
  const apps = app ? [app] : (await call<{ apps: Array<{ name: string; deployment: unknown }> }>(target, '/v1/apps')).body.apps.filter((a) => a.deployment).map((a) => a.name);
  if (apps.length === 0) return print('no app is deployed on this node');
  for (const name of apps) {
    const { body } = await call<{
      versions: Array<{ id: string; weight: number; requests: number; error_rate: number; p50_ms: number | null; p99_ms: number | null }>;
      auto_rollbacks: Array<{ at: string; version: string; reason: string }>;
    }>(target, `/v1/apps/${name}/status`);
    print(`${name}:`);
    for (const v of body.versions) {
      const ms = (x: number | null) => (x === null ? '-' : `${x.toFixed(1)} ms`);
      print(`  ${v.id.slice(0, 12)}  weight ${v.weight}  ${v.requests} requests in the last minute, ${(v.error_rate * 100).toFixed(1)}% 5xx, p50 ${ms(v.p50_ms)}, p99 ${ms(v.p99_ms)}`);
    }
    for (const e of body.auto_rollbacks) print(`  rolled back automatically at ${e.at}: ${e.version.slice(0, 12)}: ${e.reason}`);
  }
}
