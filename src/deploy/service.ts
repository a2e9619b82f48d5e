/**
 * Deploys: what the admin API does, between the version store on disk and the registry serving
 * requests. An upload becomes a version only once it unpacked within its caps, its manifest
 * parsed, its signatures verified (when the node trusts keys) and every module compiled. A
 * deployment is activated in the registry first and recorded on disk after, so the state on disk
 * always names a deployment that served. Every version read back from disk is checked against
 * its id (and its signatures) before anything is compiled.
 *
 * In a cluster (src/cluster/deploys.ts) a deploy or rollback made here goes through the cluster's
 * gate first (`ClusterGate`), and deployments made elsewhere arrive through `importVersion` and
 * `applyFromCluster`, held to the same checks as an upload.
 */
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { VergeError, isVergeError } from '../errors.js';
import type { Logger } from '../telemetry/logging.js';
import { appRelative, loadVersion, contentId, type AppDraft, type LoadedVersion } from '../loader/app-version.js';
import { fileSource } from '../node/sources.js';
import { primary, type AppRegistry, type Deployment } from '../node/registry.js';
import { VersionStore, type DeploymentRecord, type StoredVersion } from './version-store.js';
import { parseDeploymentPolicy, policyJson, type DeploymentPolicy } from './choose.js';
import { judge } from './auto-rollback.js';
import type { Snapshot } from './window.js';

export interface DraftVerifier {
  /** Throws a VergeError when the node trusts keys and the draft is not signed by one; returns the signer key ids. */
  verify(draft: AppDraft, label: string): string[];
}

/** A deploy or rollback as the cluster records it: what serves, and who asked. */
export type SharedDeployment = Pick<DeploymentRecord, 'by' | 'reason' | 'versions' | 'policy'>;

/** The cluster a clustered node's deploys go through (src/cluster/deploys.ts). */
export interface ClusterGate {
  /** Puts a version stored here into the cluster's bundle store; a failure is logged, not thrown (the next deploy naming it puts it again). */
  uploaded(app: string, version: StoredVersion): Promise<void>;
  /** A version uploaded through another node, by id or unique prefix: fetched from the cluster's bundle store and stored here; undefined when the store has none (or several) of that app. */
  fetch(app: string, idOrPrefix: string): Promise<string | undefined>;
  /** Writes `deployment` as the cluster's deployment of `app`, then runs this node's own `activate`; throws (and activates nothing) when the cluster cannot take it. */
  deploy<T>(app: string, deployment: SharedDeployment, activate: () => Promise<T>): Promise<T>;
}

export interface DeployServiceDeps {
  store: VersionStore;
  registry: AppRegistry;
  logger: Logger;
  verifier: DraftVerifier;
  /** Apps served from a path on this node: the admin API does not deploy over them. */
  fileApps: () => ReadonlySet<string>;
  retainUploads: number;
  onAutoRollback?: (app: string, version: string) => void;
  /** The cluster gate once the node is clustered (--cluster); undefined otherwise. */
  cluster?: () => ClusterGate | undefined;
}

export interface DeployRequest {
  versions: Array<{ id: string; weight: number }>;
  policy?: unknown;
}

export interface RollbackEvent {
  at: string;
  version: string;
  reason: string;
}

export class DeployService {
  private readonly events = new Map<string, RollbackEvent[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: DeployServiceDeps) {}

  /** Serves every stored app's active deployment; an app that fails to load is logged and left out. */
  async boot(): Promise<void> {
    await this.deps.store.init();
    for (const app of await this.deps.store.apps()) {
      const state = await this.deps.store.readState(app);
      if (!state.current) continue;
      if (this.deps.fileApps().has(app)) {
        this.deps.logger.warn({ app }, 'a stored deployment of this app is not served: this node serves the app from a path');
        continue;
      }
      try {
        await this.activateRecord(app, state.current);
        this.deps.logger.info({ app, versions: state.current.versions.map((v) => `${v.id.slice(0, 12)}:${v.weight}`) }, 'deployment restored');
      } catch (err) {
        this.deps.logger.error({ app, error: isVergeError(err) ? err.code : 'INTERNAL', reason: (err as Error).message }, 'stored deployment not served');
      }
    }
  }

  /** Checks canaries against their stable version every `everyMs`. */
  startWatching(everyMs = 1000): void {
    this.timer = setInterval(() => void this.checkCanaries().catch((err: Error) => this.deps.logger.error({ reason: err.message }, 'canary check failed')), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async apps(): Promise<Array<Record<string, unknown>>> {
    const names = new Set([...(await this.deps.store.apps()), ...this.deps.registry.deployments.keys()]);
    const out: Array<Record<string, unknown>> = [];
    for (const name of [...names].sort()) {
      const d = this.deps.registry.deployments.get(name);
      out.push({ name, source: this.deps.fileApps().has(name) ? 'path' : 'upload', deployment: d ? deploymentJson(d) : null });
    }
    return out;
  }

  async versions(app: string): Promise<Array<Record<string, unknown>>> {
    const stored = await this.deps.store.versions(app);
    const d = this.deps.registry.deployments.get(app);
    if (stored.length === 0 && !d) throw new VergeError('APP_NOT_FOUND', `no app named ${app} on this node`);
    return stored.map((v) => versionJson(v, d));
  }

  async version(app: string, id: string): Promise<Record<string, unknown>> {
    return versionJson(await this.deps.store.find(app, id), this.deps.registry.deployments.get(app));
  }

  async upload(app: string, body: Readable, who: string): Promise<{ created: boolean; version: Record<string, unknown> }> {
    this.refuseFileApp(app);
    const pending = await this.deps.store.receive(app, body);
    try {
      if (pending.existing) {
        // Uploading again is how an operator puts a version back into the cluster's bundle store.
        await this.deps.cluster?.()?.uploaded(app, pending.existing);
        return { created: false, version: versionJson(pending.existing, this.deps.registry.deployments.get(app)) };
      }
      const { signers } = await this.readChecked(app, pending.dir, pending.id, pending.files.map((f) => f.path));
      const stored = await pending.commit(signers);
      this.deps.logger.info({ admin: who, action: 'upload', app, version: stored.id.slice(0, 12), size: stored.size, signers }, 'admin');
      await this.prune(app);
      await this.deps.cluster?.()?.uploaded(app, stored);
      return { created: true, version: versionJson(stored, this.deps.registry.deployments.get(app)) };
    } finally {
      await pending.discard();
    }
  }

  async remove(app: string, id: string, who: string): Promise<void> {
    const v = await this.deps.store.find(app, id);
    const d = this.deps.registry.deployments.get(app);
    if (d?.entries.some((e) => e.version.id === v.id)) {
      throw new VergeError('VERSION_IN_USE', `app ${app}: version ${v.id.slice(0, 12)} is in the active deployment; deploy without it first`);
    }
    await this.deps.store.delete(app, v.id);
    await this.deps.store.forget(app, v.id);
    this.deps.logger.info({ admin: who, action: 'delete', app, version: v.id.slice(0, 12) }, 'admin');
  }

  async deploy(app: string, request: unknown, who: string): Promise<Record<string, unknown>> {
    this.refuseFileApp(app);
    const { versions, policy } = parseDeployRequest(request);
    const resolved: Array<{ id: string; weight: number }> = [];
    for (const v of versions) resolved.push({ id: await this.resolve(app, v.id), weight: v.weight });
    const record = await this.activateShared(app, { by: who, reason: 'deploy', versions: resolved, policy: policyJson(policy) });
    this.deps.logger.info({ admin: who, action: 'deploy', app, versions: resolved.map((v) => `${v.id.slice(0, 12)}:${v.weight}`) }, 'admin');
    return recordJson(record, this.deps.registry.deployments.get(app)!);
  }

  /** Back to the deployment before the active one, or to `to` alone. */
  async rollback(app: string, to: string | undefined, who: string): Promise<Record<string, unknown>> {
    this.refuseFileApp(app);
    const state = await this.deps.store.readState(app);
    if (!state.current) throw new VergeError('APP_NOT_FOUND', `app ${app} has no deployment on this node`);
    let versions: Array<{ id: string; weight: number }>;
    let policy: Record<string, unknown> = state.current.policy;
    if (to !== undefined) {
      versions = [{ id: await this.resolve(app, to), weight: 100 }];
    } else {
      const same = (r: DeploymentRecord) => JSON.stringify(r.versions) === JSON.stringify(state.current!.versions);
      const before = state.history.find((r) => !same(r));
      if (!before) throw new VergeError('VERSION_NOT_FOUND', `app ${app} has no earlier deployment to roll back to`);
      versions = before.versions;
      policy = before.policy;
    }
    const record = await this.activateShared(app, { by: who, reason: 'rollback', versions, policy });
    this.deps.logger.info({ admin: who, action: 'rollback', app, versions: versions.map((v) => `${v.id.slice(0, 12)}:${v.weight}`) }, 'admin');
    return recordJson(record, this.deps.registry.deployments.get(app)!);
  }

  async status(app: string): Promise<Record<string, unknown>> {
    const d = this.deps.registry.deployments.get(app);
    if (!d) throw new VergeError('APP_NOT_FOUND', `app ${app} is not deployed on this node`);
    const state = this.deps.fileApps().has(app) ? undefined : await this.deps.store.readState(app);
    return {
      app,
      deployment: state?.current ? recordJson(state.current, d) : deploymentJson(d),
      versions: d.entries.map((e) => ({ id: e.version.id, weight: e.weight, inflight: e.version.inflight, ...snapshotJson(e.version.stats.snapshot()) })),
      auto_rollbacks: this.events.get(app) ?? [],
    };
  }

  /** A stored version by its full id, or undefined. */
  async stored(app: string, id: string): Promise<StoredVersion | undefined> {
    return (await this.deps.store.versions(app)).find((v) => v.id === id);
  }

  /** Where a stored version's files are, for the cluster's bundle store. */
  versionDir(app: string, id: string): string {
    return this.deps.store.versionDir(app, id);
  }

  servesFromPath(app: string): boolean {
    return this.deps.fileApps().has(app);
  }

  /**
   * Stores a version that came from the cluster's bundle store under `id`: unpacked within the
   * caps, refused (VERSION_CORRUPT) unless its files hash to `id`, then checked as an upload is
   * (app name, this node's own trusted keys, every module compiled). Returns it compiled, for
   * `applyFromCluster`.
   */
  async importVersion(app: string, id: string, body: Readable): Promise<LoadedVersion> {
    const pending = await this.deps.store.receive(app, body);
    try {
      if (pending.id !== id) {
        throw new VergeError('VERSION_CORRUPT', `app ${app}: the bundle stored in the cluster as version ${id.slice(0, 12)} holds files that hash to ${pending.id.slice(0, 12)}; it is not the version it claims to be, and is not served`);
      }
      const { loaded, signers } = await this.readChecked(app, pending.dir, pending.id, pending.files.map((f) => f.path));
      if (!pending.existing) await pending.commit(signers);
      this.deps.logger.info({ action: 'import', app, version: id.slice(0, 12), signers }, 'version received from the cluster');
      return loaded;
    } finally {
      await pending.discard();
    }
  }

  /** Serves a deployment the cluster holds (every version stored here or in `loaded`), recorded as a deployment of this node. */
  async applyFromCluster(app: string, deployment: SharedDeployment & { note: string }, loaded: ReadonlyMap<string, LoadedVersion>): Promise<void> {
    this.refuseFileApp(app);
    await this.activateRecord(app, deployment, loaded);
    await this.deps.store.activate(app, deployment);
    await this.prune(app);
  }

  /** A version's full id: stored here, or (in a cluster) uploaded through another node and fetched now. */
  private async resolve(app: string, idOrPrefix: string): Promise<string> {
    try {
      return (await this.deps.store.find(app, idOrPrefix)).id;
    } catch (err) {
      const cluster = this.deps.cluster?.();
      if (!cluster || !isVergeError(err, 'VERSION_NOT_FOUND')) throw err;
      const fetched = await cluster.fetch(app, idOrPrefix);
      if (fetched === undefined) throw err;
      return fetched;
    }
  }

  /** Through the cluster's gate when the node is clustered: the cluster learns of it before this node serves it. */
  private activateShared(app: string, record: SharedDeployment): Promise<DeploymentRecord> {
    const cluster = this.deps.cluster?.();
    return cluster ? cluster.deploy(app, record, () => this.activate(app, record)) : this.activate(app, record);
  }

  /** Reads a version folder, checks it is what its id says and who signed it, and compiles it. */
  private async readChecked(app: string, dir: string, id: string, files: readonly string[]): Promise<{ loaded: LoadedVersion; signers: string[] }> {
    const draft = await readDraft(dir, files);
    if (draft.app.name !== app) {
      throw new VergeError('APP_MISMATCH', `the bundle's verge.toml names app ${draft.app.name}, but it was uploaded to app ${app}`);
    }
    const actual = contentId(draft);
    if (actual !== id) {
      throw new VergeError('VERSION_CORRUPT', `app ${app}: the files of version ${id.slice(0, 12)} changed on disk (they hash to ${actual.slice(0, 12)}); the version is not served`);
    }
    const signers = this.deps.verifier.verify(draft, `app ${app} version ${id.slice(0, 12)}`);
    return { loaded: await loadVersion(draft), signers };
  }

  private async loadStored(app: string, id: string): Promise<LoadedVersion> {
    const stored = await this.deps.store.find(app, id);
    return (await this.readChecked(app, this.deps.store.versionDir(app, stored.id), stored.id, stored.files.map((f) => f.path))).loaded;
  }

  private async activate(app: string, record: Omit<DeploymentRecord, 'seq' | 'at'>): Promise<DeploymentRecord> {
    await this.activateRecord(app, record);
    const { record: full } = await this.deps.store.activate(app, record);
    await this.prune(app);
    return full;
  }

  /** Loads what is not live yet, then swaps the registry to `record`'s versions and weights. */
  private async activateRecord(app: string, record: Pick<DeploymentRecord, 'versions' | 'policy'>, loaded?: ReadonlyMap<string, LoadedVersion>): Promise<Deployment> {
    const policy = parseDeploymentPolicy(record.policy);
    const live = new Set(this.deps.registry.deployments.get(app)?.entries.map((e) => e.version.id) ?? []);
    const items = [];
    for (const v of record.versions) {
      items.push(live.has(v.id) ? { id: v.id, weight: v.weight } : { loaded: loaded?.get(v.id) ?? (await this.loadStored(app, v.id)), weight: v.weight });
    }
    return this.deps.registry.deploy(app, items, { policy, dataDir: this.deps.store.dataDir(app) });
  }

  private async prune(app: string): Promise<void> {
    const inUse = new Set(this.deps.registry.deployments.get(app)?.entries.map((e) => e.version.id) ?? []);
    const deleted = await this.deps.store.prune(app, this.deps.retainUploads, inUse);
    if (deleted.length > 0) this.deps.logger.info({ app, versions: deleted.map((d) => d.slice(0, 12)) }, 'old uploads deleted (retention)');
  }

  private refuseFileApp(app: string): void {
    if (this.deps.fileApps().has(app)) {
      throw new VergeError('APP_NOT_DEPLOYABLE', `app ${app} is served from a path on this node (verge up PATH); deploy it to a node that does not serve it from a path`);
    }
  }

  /** Sets a failing canary's weight to 0 (and records why) when its window is worse than the stable version's. */
  async checkCanaries(): Promise<void> {
    for (const [app, d] of this.deps.registry.deployments) {
      const thresholds = d.policy.autoRollback;
      if (!thresholds || d.entries.filter((e) => e.weight > 0).length < 2) continue;
      const stable = primary(d);
      for (const e of d.entries) {
        if (e.version === stable || e.weight === 0) continue;
        const verdict = judge(stable.stats.snapshot(), e.version.stats.snapshot(), thresholds);
        if (!verdict.rollback) continue;
        await this.autoRollback(app, e.version.id, verdict.reason);
      }
    }
  }

  private async autoRollback(app: string, version: string, reason: string): Promise<void> {
    const d = await this.deps.registry.reweigh(app, new Map([[version, 0]]));
    const event: RollbackEvent = { at: new Date().toISOString(), version, reason };
    this.events.set(app, [event, ...(this.events.get(app) ?? [])].slice(0, 20));
    this.deps.onAutoRollback?.(app, version);
    this.deps.logger.warn({ app, version: version.slice(0, 12), reason }, 'canary rolled back automatically');
    if (!this.deps.fileApps().has(app)) {
      const current = (await this.deps.store.readState(app)).current;
      await this.deps.store.activate(app, {
        by: 'auto-rollback',
        reason: 'auto-rollback',
        versions: d.entries.map((e) => ({ id: e.version.id, weight: e.weight })),
        policy: current?.policy ?? {},
        note: reason,
      });
    }
  }
}

/** A version folder as a draft: the manifest, each component's module, its mounted files, and every other file (signatures) by path. */
async function readDraft(dir: string, files: readonly string[]): Promise<AppDraft> {
  const draft = await fileSource(path.join(dir, 'verge.toml'), { only: new Set(files) }).read();
  const modulePaths = new Set([...[...draft.app.components.values()].map((c) => c.source), ...(draft.dependencies?.keys() ?? [])].map((source) => appRelative(draft.app, source)));
  const mounted = new Set(draft.mounted?.listing.map((l) => l.path));
  const extra = new Map<string, Uint8Array>(draft.files);
  for (const f of files) {
    if (extra.has(f)) continue;
    if (f === 'verge.toml' || modulePaths.has(f) || mounted.has(f)) continue;
    extra.set(f, new Uint8Array(await readFile(path.join(dir, f))));
  }
  return { ...draft, files: extra };
}

export function parseDeployRequest(body: unknown): { versions: Array<{ id: string; weight: number }>; policy: DeploymentPolicy } {
  const fail = (message: string) => new VergeError('DEPLOYMENT_INVALID', message);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail('the deploy request is a JSON object: {"versions": [{"id": "...", "weight": 100}]}');
  const { versions, ...rest } = body as Record<string, unknown>;
  if (!Array.isArray(versions) || versions.length === 0) throw fail('versions: expected a non-empty array of {"id", "weight"}');
  const out = versions.map((v, i) => {
    const entry = v as Record<string, unknown>;
    if (typeof entry !== 'object' || entry === null || typeof entry.id !== 'string') throw fail(`versions[${i}].id: expected a version id string`);
    const weight = entry.weight ?? 100;
    if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 1_000_000) throw fail(`versions[${i}].weight: expected an integer from 0 to 1000000, got ${JSON.stringify(weight)}`);
    return { id: entry.id, weight };
  });
  if (!out.some((v) => v.weight > 0)) throw fail('versions: at least one version needs a weight above 0');
  return { versions: out, policy: parseDeploymentPolicy(rest) };
}

function deploymentJson(d: Deployment): Record<string, unknown> {
  return { versions: d.entries.map((e) => ({ id: e.version.id, weight: e.weight })), ...policyJson(d.policy) };
}

function recordJson(r: DeploymentRecord, d: Deployment): Record<string, unknown> {
  return { seq: r.seq, at: r.at, by: r.by, reason: r.reason, ...(r.note ? { note: r.note } : {}), ...deploymentJson(d) };
}

function versionJson(v: StoredVersion, d: Deployment | undefined): Record<string, unknown> {
  const entry = d?.entries.find((e) => e.version.id === v.id);
  return { id: v.id, app: v.app, created: v.created, size: v.size, signers: v.signers, files: v.files.length, live: entry !== undefined, weight: entry?.weight ?? 0 };
}

function snapshotJson(s: Snapshot): Record<string, unknown> {
  return { requests: s.requests, errors_5xx: s.errors5xx, error_rate: s.errorRate, p50_ms: s.p50Ms ?? null, p99_ms: s.p99Ms ?? null };
}

