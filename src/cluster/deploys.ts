/**
 * Deploys reach every node (docs/cluster.md, "Deploys"). Two JetStream parts hold the state:
 *
 * - the bundle store (object store DEPLOY_BUCKETS.bundles): every version a deployment names, as a
 *   bundle under its id, chunked; put by the node that stored the version (on upload, and again at
 *   a deploy naming it if it is missing);
 * - the deployments bucket (KV DEPLOY_BUCKETS.deployments): each app's current deployment, written
 *   by the node whose admin API took the deploy, with compare-and-swap on the revision that node
 *   last read, before that node serves it.
 *
 * Every node converges from that state, not from events: on connecting, on every reconnect and
 * every heartbeat it reads each key's current value and, if it does not serve that deployment
 * yet, fetches the bundles it lacks, checks each against its id and its own trusted keys, and
 * serves it. A watch on the bucket only makes this sooner. So a node that was offline, or missed
 * events while NATS was degraded, serves the latest deployment and nothing in between. A
 * deployment it refuses (signer not trusted, bytes not matching their id, ...) is remembered by
 * revision and reported in its heartbeat; it keeps serving what it served.
 *
 * Which cluster deployment this node serves is kept under the data dir (APPLIED_FILE), so a
 * restart does not redo it; an automatic rollback stays this node's own until the next deploy.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, KvWatchInclude, type KV, type KvWatchEntry } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { VergeError, isVergeError } from '../errors.js';
import { NAME as APP_NAME } from '../manifest/load.js';
import type { Logger } from '../telemetry/logging.js';
import type { LoadedVersion } from '../loader/app-version.js';
import type { ClusterGate, DeployService, SharedDeployment } from '../deploy/service.js';
import type { StoredVersion } from '../deploy/version-store.js';
import type { ClusterConfig } from './options.js';
import { CALL_TIMEOUT_MS, type ClusterMember } from './membership.js';
import { message, within } from '../backends/nats/bounded.js';
import type { AppDeployState, NodeRecord } from './record.js';
import { BUNDLE_CHUNK_BYTES, DEPLOY_BUCKETS, parseClusterDeployment, replicationLag, type ClusterDeployment, type DeploymentView } from './deploy-record.js';
import { versionBundle } from './bundle-object.js';
import { kvKeys, objectChunks, objectInfo, objectNames } from '../backends/nats/stream-reads.js';

/** Under the data dir: app → the cluster deployment this node serves. */
export const APPLIED_FILE = 'cluster-deployments.json';
/** Putting or fetching one bundle (and checking and compiling it) within this. */
export const TRANSFER_TIMEOUT_MS = 60_000;

/**
 * Refusals that reading the same bytes again cannot change: remembered for the revision until the
 * cluster's deployment changes. Anything else (NATS, a bundle not there yet) is retried.
 */
const CONTENT_CODES = new Set([
  'VERSION_CORRUPT', 'SIGNATURE_MISSING', 'SIGNATURE_INVALID', 'SIGNATURE_UNSUPPORTED', 'SIGNATURE_UNTRUSTED', 'KEY_REVOKED',
  'MANIFEST_INVALID', 'MODULE_INVALID', 'MODULE_TOO_LARGE', 'MODULE_MEMORY', 'MODULE_IMPORT', 'DEPENDENCY_INVALID',
  'APP_MISMATCH', 'APP_CONFLICT', 'BUNDLE_INVALID', 'BUNDLE_TOO_LARGE', 'DEPLOYMENT_INVALID', 'APP_NOT_DEPLOYABLE',
]);

interface Applied {
  id: string;
  revision: number;
  /** When this node served it (its clock, ms). */
  applied_at: number;
  /** From the later of the cluster storing it (server clock) and this node connecting, to this node serving it. */
  lag_ms: number;
}

interface Track {
  /** The key's value at the last read (undefined: no deployment in the cluster). */
  seen?: { value: ClusterDeployment | undefined; revision: number; storedAt: number };
  applied?: Applied;
  refused?: { revision: number; code: string; message: string };
  /** The last failure that will be retried. */
  failing?: { code: string; message: string };
}

export interface DeployReplication extends ClusterGate {
  /** Starts on the cluster's connection (the membership's, once connected). */
  attach(nc: NatsConnection): void;
  /** Reads the cluster's deployments now and serves what this node does not yet (what every heartbeat does). */
  sweep(): Promise<void>;
  views(): DeploymentView[];
  /** This node's part of its heartbeat record. */
  describe(): Pick<NodeRecord, 'deploys' | 'replication_lag_ms'>;
  close(): Promise<void>;
}

export interface DeployReplicationOptions {
  config: ClusterConfig;
  service: DeployService;
  stateDir: string;
  logger: Logger;
}

async function readApplied(file: string): Promise<Record<string, Applied>> {
  try {
    const json = JSON.parse(await fs.readFile(file, 'utf8')) as { apps?: Record<string, Applied> };
    return json.apps ?? {};
  } catch {
    // Missing or unreadable: the node applies the cluster's deployments again, which changes nothing it serves already.
    return {};
  }
}

function isConflict(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

/** Names the app in each bundle's object description, so a version is looked up within its app. */
const bundleDescription = (app: string) => `verge app ${app}`;

const codeOf = (err: unknown) => (isVergeError(err) ? err.code : 'CLUSTER_UNAVAILABLE');

export async function createDeployReplication(opts: DeployReplicationOptions): Promise<DeployReplication> {
  const { config, service, logger } = opts;
  const log = { cluster: config.address.shown, node_id: config.nodeId };
  const file = path.join(opts.stateDir, APPLIED_FILE);
  const tracks = new Map<string, Track>();
  for (const [app, applied] of Object.entries(await readApplied(file))) tracks.set(app, { applied });
  const track = (app: string) => tracks.get(app) ?? tracks.set(app, {}).get(app)!;

  let nc: NatsConnection | undefined;
  let up = false;
  /** When this node last (re)connected: a deployment stored while it was away is late from then, not from before. */
  let connectedAt = 0;
  let closed = false;
  let kv: Promise<KV> | undefined;
  let objects: Promise<ObjectStore> | undefined;
  let jsm: Promise<JetStreamManager> | undefined;
  let watching: QueuedIterator<KvWatchEntry> | undefined;
  let startingWatch: Promise<void> | undefined;
  let sweeping: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let saving: Promise<void> = Promise.resolve();
  const turns = new Map<string, Promise<unknown>>();

  /** One app's reconcile and this node's deploys of it, in turn. */
  function inTurn<T>(app: string, work: () => Promise<T>): Promise<T> {
    const next = (turns.get(app) ?? Promise.resolve()).then(work);
    const settled = next.catch(() => undefined);
    turns.set(app, settled);
    void settled.then(() => turns.get(app) === settled && turns.delete(app));
    return next;
  }

  /** Opens a bucket once per connection; one that failed to open is opened again at the next call. */
  function opened<T>(get: () => Promise<T> | undefined, set: (p: Promise<T> | undefined) => void, open: () => Promise<T>): Promise<T> {
    const existing = get();
    if (existing) return existing;
    const p = open();
    set(p);
    p.catch(() => get() === p && set(undefined));
    return p;
  }

  const deployments = () =>
    opened(() => kv, (p) => (kv = p), () =>
      within(new Kvm(jetstream(nc!, { timeout: CALL_TIMEOUT_MS })).create(DEPLOY_BUCKETS.deployments, { replicas: config.replicas, history: 1, storage: StorageType.File, allow_direct: false }), CALL_TIMEOUT_MS, 'opening the deployments bucket'),
    );
  const bundles = () =>
    opened(() => objects, (p) => (objects = p), () =>
      within(new Objm(jetstream(nc!, { timeout: CALL_TIMEOUT_MS })).create(DEPLOY_BUCKETS.bundles, { replicas: config.replicas, storage: StorageType.File }), CALL_TIMEOUT_MS, 'opening the bundle store'),
    );
  /** Listings and bundle reads go through this, with no consumer (backends/nats/stream-reads.ts). */
  const manager = () => (jsm ??= jetstreamManager(nc!, { timeout: CALL_TIMEOUT_MS, checkAPI: false }));

  const unavailable = (why: string) =>
    new VergeError('CLUSTER_UNAVAILABLE', `this node is in the cluster at ${config.address.shown} but ${why}; a deploy here would not reach the other nodes, so nothing was changed: retry once \`verge cluster status\` says connected, or deploy through a connected node`);

  function save(): Promise<void> {
    const apps = Object.fromEntries([...tracks].filter(([, t]) => t.applied).map(([app, t]) => [app, t.applied!]));
    const text = JSON.stringify({ apps }, null, 2) + '\n';
    saving = saving.then(async () => {
      await fs.mkdir(opts.stateDir, { recursive: true });
      await fs.writeFile(`${file}.tmp`, text);
      await fs.rename(`${file}.tmp`, file);
    }).catch((err) => logger.warn({ ...log, reason: message(err) }, `cluster: cannot write ${file}; after a restart this node applies the cluster's deployments again`));
    return saving;
  }

  async function markApplied(app: string, id: string, revision: number, storedAt: number): Promise<Applied> {
    const t = track(app);
    const now = Date.now();
    t.applied = { id, revision, applied_at: now, lag_ms: Math.max(0, now - Math.max(storedAt, connectedAt)) };
    t.refused = undefined;
    t.failing = undefined;
    await save();
    return t.applied;
  }

  async function publish(app: string, version: StoredVersion): Promise<void> {
    const store = await bundles();
    const body = versionBundle(service.versionDir(app, version.id), version.files);
    try {
      const web = Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>;
      await within(store.put({ name: version.id, description: bundleDescription(app), options: { max_chunk_size: BUNDLE_CHUNK_BYTES } }, web), TRANSFER_TIMEOUT_MS, `putting version ${version.id.slice(0, 12)} into the bundle store`);
    } finally {
      body.destroy();
    }
  }

  /** The bundle store holds every version a deployment made here names: put from this node's copy when missing. */
  async function ensureBundle(app: string, id: string): Promise<void> {
    const info = await within((await bundles()).info(id), CALL_TIMEOUT_MS, 'reading the bundle store');
    if (info && !info.deleted) return;
    const version = await service.stored(app, id);
    if (!version) throw new VergeError('VERSION_NOT_FOUND', `app ${app} has no version ${id.slice(0, 12)} on this node to put into the cluster's bundle store`);
    await publish(app, version);
  }

  /** Fetches a version this node lacks and checks it as an upload (against its id, this node's trusted keys). */
  async function fetchVersion(app: string, id: string): Promise<LoadedVersion> {
    const m = await manager();
    const info = await within(objectInfo(m, DEPLOY_BUCKETS.bundles, id), CALL_TIMEOUT_MS, 'reading the bundle store');
    if (!info || info.deleted) throw new Error(`version ${id.slice(0, 12)} of app ${app} is not in the cluster's bundle store yet`);
    const body = Readable.from(objectChunks(m, info, CALL_TIMEOUT_MS), { objectMode: false });
    try {
      return await within(service.importVersion(app, id, body), TRANSFER_TIMEOUT_MS, `fetching version ${id.slice(0, 12)} from the bundle store`);
    } finally {
      body.destroy();
    }
  }

  async function apply(app: string, d: ClusterDeployment, revision: number, storedAt: number, via: string): Promise<void> {
    if (service.servesFromPath(app)) throw new VergeError('APP_NOT_DEPLOYABLE', `app ${app} is served from a path on this node (verge up PATH); the cluster's deployment of it is not served here`);
    const loaded = new Map<string, LoadedVersion>();
    for (const v of d.versions) {
      if (!(await service.stored(app, v.id))) loaded.set(v.id, await fetchVersion(app, v.id));
    }
    const note = `cluster deployment ${d.id} through node ${d.origin}`;
    await service.applyFromCluster(app, { by: d.by, reason: d.reason, versions: d.versions, policy: d.policy, note }, loaded);
    const applied = await markApplied(app, d.id, revision, storedAt);
    logger.info({ ...log, app, deployment: d.id, origin: d.origin, versions: d.versions.map((v) => `${v.id.slice(0, 12)}:${v.weight}`), lag_ms: applied.lag_ms, via }, 'cluster: deployment served');
  }

  function refuse(app: string, t: Track, revision: number, deployment: string, err: unknown): void {
    t.refused = { revision, code: codeOf(err), message: message(err) };
    t.failing = undefined;
    logger.warn({ ...log, app, deployment, error: t.refused.code, reason: t.refused.message }, "cluster: deployment refused; this node keeps serving what it served");
  }

  /**
   * Reads the app's current deployment in the cluster and serves it, if this node does not yet.
   * `via` only says what prompted the read (logged, so the watch's share can be measured).
   */
  function reconcile(app: string, via: 'watch' | 'sweep'): Promise<void> {
    if (!APP_NAME.test(app)) return Promise.resolve();
    return inTurn(app, async () => {
      if (closed || !up) return;
      const entry = await within((await deployments()).get(app), CALL_TIMEOUT_MS, `reading the cluster's deployment of ${app}`);
      const t = track(app);
      if (!entry || entry.operation !== 'PUT') {
        t.seen = undefined;
        return;
      }
      const storedAt = entry.created.getTime();
      const parsed = parseClusterDeployment(entry.value, app);
      t.seen = { value: typeof parsed === 'string' ? undefined : parsed, revision: entry.revision, storedAt };
      if (t.refused?.revision === entry.revision) return;
      if (typeof parsed === 'string') return refuse(app, t, entry.revision, `revision ${entry.revision}`, new VergeError('DEPLOYMENT_INVALID', parsed));
      if (t.applied?.id === parsed.id) {
        t.failing = undefined;
        return;
      }
      try {
        await apply(app, parsed, entry.revision, storedAt, via);
      } catch (err) {
        if (isVergeError(err) && CONTENT_CODES.has(err.code)) return refuse(app, t, entry.revision, parsed.id, err);
        if (t.failing?.message !== message(err)) logger.warn({ ...log, app, deployment: parsed.id, reason: message(err) }, 'cluster: deployment not served yet; retrying at the next heartbeat');
        t.failing = { code: codeOf(err), message: message(err) };
      }
    });
  }

  /**
   * Starts the watch if none runs. It only makes convergence sooner, so the sweep does not wait
   * for it: its consumer can land on a stopped server (backends/nats/stream-reads.ts) and never
   * answer, and the next sweep starts another.
   */
  function watch(): void {
    if (watching || startingWatch) return;
    startingWatch = (async () => {
      const opening = (await deployments()).watch({ include: KvWatchInclude.UpdatesOnly, headers_only: true });
      const it = await within(opening, CALL_TIMEOUT_MS, 'watching the deployments').catch((err: unknown) => {
        // One that answers late is stopped, not left running beside the next one.
        void opening.then((late) => late.stop(), () => {});
        throw err;
      });
      if (closed) return it.stop();
      watching = it;
      void (async () => {
        for await (const e of it) void reconcile(e.key, 'watch').catch(() => {});
      })()
        .catch(() => {})
        .finally(() => watching === it && (watching = undefined));
    })()
      .catch((err: unknown) => logger.debug({ ...log, reason: message(err) }, 'cluster: cannot watch the deployments now; the heartbeat\'s reads carry on, and the next one tries again'))
      .finally(() => (startingWatch = undefined));
  }

  function sweep(): Promise<void> {
    return (sweeping ??= (async () => {
      if (closed || !nc || !up) return;
      try {
        watch();
        const keys = await within(kvKeys(await manager(), DEPLOY_BUCKETS.deployments), CALL_TIMEOUT_MS, 'listing the cluster\'s deployments');
        // Side by side: one app that cannot be read, or whose bundle is slow to fetch, does not hold up the others.
        const results = await Promise.allSettled([...new Set([...keys, ...tracks.keys()])].map((app) => reconcile(app, 'sweep')));
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (err) {
        // The bucket may be gone with a server's store: opened again at the next sweep. The watch
        // is left running: a slow listing under load says nothing about it, and it ends by itself
        // if its consumer is lost (then the next sweep starts another).
        kv = undefined;
        objects = undefined;
        jsm = undefined;
        logger.debug({ ...log, reason: message(err) }, 'cluster: reading the deployments failed; retrying at the next heartbeat');
      }
    })().finally(() => (sweeping = undefined)));
  }

  function views(): DeploymentView[] {
    const now = Date.now();
    const out: DeploymentView[] = [];
    for (const [app, t] of [...tracks].sort(([a], [b]) => a.localeCompare(b))) {
      if (!t.seen) continue;
      const cluster = t.seen.value ? { ...t.seen.value, revision: t.seen.revision } : null;
      const base = { app, cluster, applied: t.applied?.id ?? null };
      if (t.refused?.revision === t.seen.revision) out.push({ ...base, state: 'refused', code: t.refused.code, message: t.refused.message, lag_ms: null });
      else if (cluster && t.applied?.id === cluster.id) out.push({ ...base, state: 'serving', code: null, message: null, lag_ms: t.applied.lag_ms ?? null });
      else out.push({ ...base, state: 'pending', code: t.failing?.code ?? null, message: t.failing?.message ?? null, lag_ms: up ? Math.max(0, now - Math.max(t.seen.storedAt, connectedAt)) : null });
    }
    return out;
  }

  return {
    attach(conn) {
      nc = conn;
      up = true;
      connectedAt = Date.now();
      void (async () => {
        for await (const s of conn.status()) {
          if (s.type === 'disconnect') up = false;
          else if (s.type === 'reconnect') {
            up = true;
            connectedAt = Date.now();
            void sweep();
          }
        }
      })().catch(() => {});
      void sweep();
      timer = setInterval(() => void sweep(), config.heartbeatMs);
    },

    sweep,
    views,

    describe() {
      const v = views();
      const deploys: Record<string, AppDeployState> = {};
      for (const d of v) {
        deploys[d.app] = { deployment: d.cluster?.id ?? `revision ${d.cluster?.revision ?? '?'}`, state: d.state, ...(d.code ? { code: d.code } : {}), ...(d.message ? { message: d.message } : {}) };
      }
      return { deploys, replication_lag_ms: replicationLag(v) };
    },

    async uploaded(app, version) {
      if (!nc || !up) {
        logger.info({ ...log, app, version: version.id.slice(0, 12) }, 'cluster: not connected; the version goes to the bundle store at the deploy that names it');
        return;
      }
      await publish(app, version).then(
        () => logger.info({ ...log, app, version: version.id.slice(0, 12), size: version.size }, 'cluster: version put into the bundle store'),
        (err) => logger.warn({ ...log, app, version: version.id.slice(0, 12), reason: message(err) }, 'cluster: cannot put the version into the bundle store; the deploy that names it tries again'),
      );
    },

    async fetch(app, idOrPrefix) {
      const want = idOrPrefix.toLowerCase();
      if (!nc || !up || !/^[0-9a-f]{6,64}$/.test(want)) return undefined;
      try {
        const m = await manager();
        const names = (await within(objectNames(m, DEPLOY_BUCKETS.bundles), CALL_TIMEOUT_MS, 'listing the bundle store')).filter((name) => name.startsWith(want));
        const infos = await Promise.all(names.map((name) => within(objectInfo(m, DEPLOY_BUCKETS.bundles, name), CALL_TIMEOUT_MS, 'reading the bundle store')));
        const hits = infos.filter((o) => o && !o.deleted && o.description === bundleDescription(app));
        if (hits.length !== 1) return undefined;
        // Checked as any fetched version: a signer this node does not trust refuses the deploy here.
        await fetchVersion(app, hits[0]!.name);
        return hits[0]!.name;
      } catch (err) {
        throw isVergeError(err) ? err : unavailable(`the version could not be fetched from the cluster's bundle store (${message(err)})`);
      }
    },

    deploy<T>(app: string, deployment: SharedDeployment, activate: () => Promise<T>): Promise<T> {
      if (!nc || !up) return Promise.reject(unavailable(`cannot reach NATS now`));
      return inTurn(app, async () => {
        const t = track(app);
        const value: ClusterDeployment = {
          id: `d-${randomBytes(8).toString('hex')}`,
          app,
          versions: deployment.versions,
          policy: deployment.policy,
          by: deployment.by,
          reason: deployment.reason === 'rollback' ? 'rollback' : 'deploy',
          origin: config.nodeId,
          at: new Date().toISOString(),
        };
        let revision: number;
        try {
          for (const v of deployment.versions) await ensureBundle(app, v.id);
          const b = await deployments();
          const text = JSON.stringify(value);
          // At the revision this node last read: a deploy through another node since is not overwritten unseen.
          revision = await within(t.seen ? b.update(app, text, t.seen.revision) : b.create(app, text), CALL_TIMEOUT_MS, 'writing the deployment');
        } catch (err) {
          if (isConflict(err)) {
            throw new VergeError('CLUSTER_DEPLOY_CONFLICT', `app ${app}: the cluster's deployment changed since this node last read it (a deploy through another node, or this node has not caught up yet); nothing was changed: check verge status and retry`);
          }
          throw isVergeError(err) ? err : unavailable(`the deploy could not be written to the cluster (${message(err)})`);
        }
        const storedAt = Date.now();
        t.seen = { value, revision, storedAt };
        const out = await activate();
        await markApplied(app, value.id, revision, storedAt);
        logger.info({ ...log, app, deployment: value.id, revision }, 'cluster: deployment written');
        return out;
      });
    },

    async close() {
      closed = true;
      clearInterval(timer);
      watching?.stop();
      await startingWatch;
      await sweeping;
      await Promise.all(turns.values());
      await saving;
    },
  };
}

/** The membership with this node's deploy replication in its status, closed before it. */
export function withDeploys(member: ClusterMember, replication: DeployReplication): ClusterMember {
  return {
    async status() {
      return {
        ...(await member.status()),
        replication: `deploys go through the KV bucket ${DEPLOY_BUCKETS.deployments} and the object store ${DEPLOY_BUCKETS.bundles}`,
        deployments: replication.views(),
      };
    },
    async close() {
      await replication.close();
      await member.close();
    },
  };
}
