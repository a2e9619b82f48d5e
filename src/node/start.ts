/**
 * One Verge node, the composition root: app sources → versions → registry → worker pool →
 * ingress, plus the admin listener. The CLI's `up` is a thin wrapper over `startNode`.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { AddressInfo, Server } from 'node:net';
import type tls from 'node:tls';
import { VergeError, isVergeError } from '../errors.js';
import { WorkerPool } from '../dispatch/pool.js';
import { DEFAULT_IDLE_WORKERS, SPARE_WORKERS, defaultWorkers } from '../dispatch/worker-spawn.js';
import { createIngress, type AnsweredRequest } from '../ingress/server.js';
import type { Listener } from '../ingress/listeners.js';
import { createLogger, type LogFormat, type LogLevel, type Logger } from '../telemetry/logging.js';
import { createLogRing, type LogRing } from '../telemetry/log-ring.js';
import type { Metrics } from '../telemetry/metrics.js';
import { metricsOff } from '../telemetry/metrics-off.js';
import { createTracing, samplerConfigFromEnv, traceConfigFromEnv, type Tracing } from '../telemetry/tracing.js';
import { logsConfigFromEnv } from '../telemetry/trace/config.js';
import { OtlpExport, safeEndpoint } from '../telemetry/trace/export-client.js';
import type { BreakerSide } from '../capabilities/kv/store-breakers.js';
import type { BreakerState } from '../capabilities/kv/breaker.js';
import { createAdminServer } from '../admin/server.js';
import { loadVersion, type LoadedVersion } from '../loader/app-version.js';
import { createCapabilityHost, DEFAULT_DATA_DIR } from '../capabilities/index.js';
import { AppRegistry, versionKeyParts, type InstallResult } from './registry.js';
import { Chains } from '../dispatch/chain.js';
import path from 'node:path';
import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createOverride } from '../deploy/override.js';
import { createAdminAuth, readAdminToken } from '../admin/auth.js';
import { createAdminApi } from '../admin/api.js';
import { createDashboardApi } from '../dashboard/api.js';
import { createAssetHandler } from '../dashboard/assets.js';
import { RecentRequests } from '../dashboard/recent-requests.js';
import { RecentTraces } from '../dashboard/recent-traces.js';
import { RouteStats } from '../dashboard/route-stats.js';
import { DeployService } from '../deploy/service.js';
import { DEFAULT_RETAIN_UPLOADS, VersionStore } from '../deploy/version-store.js';
import { createDraftVerifier, type TrustOptions } from '../deploy/verify.js';
import { fileSource, type AppSource, type FileAppSource } from './sources.js';
import { RedisTriggers } from '../triggers/redis.js';
import { clusterConfig as readClusterConfig, type ClusterFlags } from '../cluster/options.js';
import type { ClusterMember, SelfDescription } from '../cluster/membership.js';
import { clusterRoute } from '../cluster/route.js';
import type { DeployReplication } from '../cluster/deploys.js';
import { ADMIN_TLS_FLAGS, PUBLIC_TLS_FLAGS, describeCertificate, loadTls, type TlsFiles, type TlsFlags, type TlsMaterial } from './tls.js';

export interface NodeOptions {
  /** verge.toml files, or folders holding one: one app each. */
  apps: string[];
  listen?: string;
  admin?: string | undefined;
  /** Workers at most; `idleWorkers` are kept with no load (default DEFAULT_IDLE_WORKERS). */
  workers?: number;
  idleWorkers?: number | undefined;
  queueLimit?: number;
  logLevel?: LogLevel;
  /** JSON lines (default) or readable lines on stdout; `logColor` paints the readable ones. */
  logFormat?: LogFormat;
  logColor?: boolean;
  /** How long SIGTERM waits for in-flight requests. */
  drainMs?: number;
  /** SQLite stores live here (default .verge/data, relative to each manifest's folder). */
  dataDir?: string | undefined;
  /** A dotenv file with VERGE_VAR_* values. */
  envFile?: string | undefined;
  /** A Spin runtime config for the spin.toml apps (`--runtime-config-file`). */
  runtimeConfigFile?: string | undefined;
  /** The admin token's file (else VERGE_ADMIN_TOKEN). */
  adminTokenFile?: string | undefined;
  /** Uploads kept beyond every version that was ever live (default 10). */
  retainUploads?: number | undefined;
  /** Trusted signing keys and revocations: when any key is trusted, every module must be signed by one. */
  trust?: TrustOptions | undefined;
  /** Environment (VERGE_ADMIN_TOKEN, VERGE_VAR_*); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** PEM certificate and key for the public listener (--tls-cert, --tls-key): HTTPS with HTTP/2 and HTTP/1.1. */
  tls?: TlsFiles | undefined;
  /** PEM certificate and key for the admin listener (--admin-tls-cert, --admin-tls-key). */
  adminTls?: TlsFiles | undefined;
  /** The operator's switch (--kv-writes): the admin API may set and delete store keys. */
  kvWrites?: boolean | undefined;
  /** Development mode (--dev, and --watch by default): a failing guest's panic message and backtrace go in its 500 body too. */
  dev?: boolean | undefined;
  /** Join a cluster over NATS (--cluster and its flags); without it the NATS client is never loaded. */
  cluster?: ClusterFlags | undefined;
}

export interface RunningNode {
  url: string;
  adminUrl: string | undefined;
  registry: AppRegistry;
  sources: FileAppSource[];
  deploys: DeployService;
  logger: Logger;
  /** The recent log records (GET /v1/logs). */
  logs: LogRing;
  metrics: Metrics;
  /** Reads the source again and installs what it holds now; the serving version stays if anything fails. */
  reload(source: AppSource): Promise<InstallResult>;
  /**
   * Reads each TLS listener's files again and swaps them in for new connections (SIGHUP); open
   * connections keep theirs. A listener whose files fail keeps its certificate; its error is
   * logged and returned.
   */
  reloadTls(): VergeError[];
  /** The cluster this node joins (--cluster), for the banner. */
  cluster: { nodeId: string; region: string | undefined; servers: string } | undefined;
  /** Start-up warnings (also logged), for the CLI to print. */
  warnings: readonly string[];
  close(): Promise<void>;
}

export const DEFAULT_LISTEN = '127.0.0.1:3000';
export const DEFAULT_QUEUE_LIMIT = 1024;
export const DEFAULT_DRAIN_MS = 10_000;
/** How long a stopping node keeps exporting the spans still queued. */
export const TRACE_FLUSH_MS = 2_000;

export { defaultWorkers };

export function parseListen(value: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag} expects HOST:PORT (for example 127.0.0.1:3000), got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** Listens, or fails with a LISTEN_FAILED that names the flag and says what to do. */
function listen(server: Server, where: { host: string; port: number }, flag: string, scheme: 'http' | 'https'): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(listenError(err, where, flag));
    server.once('error', fail);
    server.listen(where.port, where.host, () => {
      server.off('error', fail);
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve(`${scheme}://${host}:${addr.port}`);
    });
  });
}

/** One TLS listener: its files, the flags that named them, and the server to swap a new certificate into. */
interface TlsListener {
  name: 'public' | 'admin';
  files: TlsFiles;
  flags: TlsFlags;
  server: tls.Server;
}

function logCertificate(logger: Logger, listener: string, material: TlsMaterial, event: string): void {
  const line = { listener, ...describeCertificate(material.certificate) };
  if (new Date(material.certificate.validTo).getTime() < Date.now()) logger.warn(line, `${event}; the certificate has expired, clients will refuse it`);
  else logger.info(line, event);
}

export function listenError(err: NodeJS.ErrnoException, where: { host: string; port: number }, flag: string): VergeError {
  const host = where.host.includes(':') ? `[${where.host}]` : where.host;
  const freePort = `${flag} ${host}:0 lets the system pick a free port`;
  const why =
    err.code === 'EADDRINUSE'
      ? `the address is already in use, probably by another process (another verge up?); stop it, or choose another port (${freePort})`
      : err.code === 'EACCES'
        ? `permission denied; ports below 1024 need privileges: choose a port of 1024 or above`
        : err.code === 'EADDRNOTAVAIL'
          ? `${where.host} is not an address of this machine; use 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`
          : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? `the host name ${where.host} could not be resolved; use an IP address such as 127.0.0.1`
            : `${err.code ?? err.message}`;
  return new VergeError('LISTEN_FAILED', `${flag} ${host}:${where.port}: cannot listen: ${why}`, { cause: err });
}

function logLoad(logger: Logger, loaded: LoadedVersion): void {
  for (const c of loaded.components) {
    const component = c.component;
    if (!component) continue;
    const how = component.transpileMs === undefined ? { from: 'transpile cache' } : { transpile_ms: component.transpileMs };
    const dependencies = component.dependencies.length > 0 ? { dependencies: component.dependencies } : {};
    logger.info({ app: loaded.app.name, component: c.spec.component, core_bytes: component.coreBytes, cache: component.cacheDir, ...how, ...dependencies }, 'wasi:http component loaded');
  }
}

/** 32 random bytes kept under the data dir (mode 0600), so override cookies stay valid across restarts. */
async function nodeSecret(stateDir: string): Promise<Uint8Array> {
  const file = path.join(stateDir, 'override.key');
  try {
    const bytes = await fs.readFile(file);
    if (bytes.length >= 32) return bytes;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(stateDir, { recursive: true });
  const secret = randomBytes(32);
  await fs.writeFile(file, secret, { mode: 0o600 });
  return secret;
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const listenAt = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const adminAt = opts.admin ? parseListen(opts.admin, '--admin') : undefined;
  // Bad TLS files fail the start before any app is compiled.
  if (opts.adminTls && !adminAt) throw new VergeError('TLS_CONFIG_INVALID', `${ADMIN_TLS_FLAGS.cert} and ${ADMIN_TLS_FLAGS.key} are for the admin listener: give --admin HOST:PORT too`);
  const publicTls = opts.tls && loadTls(opts.tls, PUBLIC_TLS_FLAGS);
  const adminTls = opts.adminTls && loadTls(opts.adminTls, ADMIN_TLS_FLAGS);
  const env = opts.env ?? process.env;
  // A bad OTEL_* value fails the start before any app is compiled, like a bad flag.
  const traceConfig = traceConfigFromEnv(env);
  const logsConfig = logsConfigFromEnv(env);
  // With an admin listener the dashboard shows traces, OTLP endpoint or not: recorded with the same sampler, exported only to an endpoint.
  const sampling = traceConfig ?? (adminAt ? samplerConfigFromEnv(env) : undefined);
  const traces = adminAt && sampling ? new RecentTraces() : undefined;
  const auth = adminAt ? createAdminAuth(readAdminToken({ env, tokenFile: opts.adminTokenFile }), adminAt.host) : undefined;
  const verifier = createDraftVerifier(opts.trust ?? {});
  const sources = opts.apps.map((a) => fileSource(a, { runtimeConfigFile: opts.runtimeConfigFile }));
  // Every app is read, verified and compiled before anything starts: a bad one fails the start with its reason.
  const firstVersions = await Promise.all(
    sources.map(async (s) => {
      const draft = await s.read();
      verifier.verify(draft, s.label);
      return loadVersion(draft);
    }),
  );
  const logs = createLogRing();
  const { logger, flush } = createLogger(opts.logLevel ?? 'info', { format: opts.logFormat, color: opts.logColor, ring: logs });
  for (const v of firstVersions) logLoad(logger, v);

  let metrics: Metrics | undefined;
  let workerRestarts = 0;
  // One thread exports spans and guest log records over OTLP, when either is configured.
  const otlp =
    traceConfig || logsConfig
      ? new OtlpExport({
          traces: traceConfig,
          logs: logsConfig,
          logger,
          onDropped: (signal, count, reason) => (signal === 'spans' ? metrics?.spansDropped : metrics?.logRecordsDropped)?.inc({ reason }, count),
        })
      : undefined;
  // Bounded: a thread that cannot start is reported by the export client and costs only telemetry.
  if (otlp) await Promise.race([otlp.ready, new Promise((r) => setTimeout(r, 10_000).unref())]);
  const tracing: Tracing | undefined = await createTracing(sampling, { logger, export: otlp, onTrace: traces && ((requestId, spans) => traces.add(requestId, spans)) });
  if (logsConfig) logger.info({ endpoint: safeEndpoint(logsConfig.url), protocol: logsConfig.protocol }, 'guest log export on');
  const logExport = otlp?.logs;
  /** source: 'main' for a store on the main thread, else the thread id of the worker whose breaker it is. */
  const onBreaker = (source: string | number, app: string, store: string, side: BreakerSide, state: BreakerState, reason: string | undefined) => {
    metrics?.observeBreaker(source, app, store, side, state);
    const line = { app, store, side, state, reason };
    if (state === 'open') logger.warn(line, 'kv circuit breaker opened');
    else logger.info(line, `kv circuit breaker ${state}`);
  };
  // Chained calls need the pool and the registry, which need the capabilities: bound once both exist.
  let chains: Chains | undefined;
  const capabilities = createCapabilityHost({
    dataDir: opts.dataDir ?? DEFAULT_DATA_DIR,
    env: process.env,
    envFile: opts.envFile,
    onBreaker: (...change) => onBreaker('main', ...change),
    logger,
    onHostCall: (call, capability, outcome, seconds) => metrics?.observeHostCall(call.version, call.component, capability, outcome, seconds),
  });
  const pool = new WorkerPool({
    size: opts.workers ?? defaultWorkers(),
    spares: SPARE_WORKERS,
    idleWorkers: opts.idleWorkers ?? DEFAULT_IDLE_WORKERS,
    queueLimit: opts.queueLimit ?? DEFAULT_QUEUE_LIMIT,
    onChain: (start) => chains?.started(start),
    onGuestLog: (id, component, stream, level, line, versionKey, trace) => {
      const version = versionKeyParts(versionKey);
      // A chained request's lines name the request that called it too.
      const parent = chains?.parentOf(id);
      logger[level]({ request_id: id, ...(parent ? { parent_request_id: parent } : {}), ...version, component, stream, line }, stream === 'host' ? 'host call' : 'guest');
      logExport?.push({
        time: Date.now(),
        level,
        body: line,
        attributes: {
          'verge.app': version.app,
          'verge.version': version.version,
          'verge.component': component,
          'verge.request_id': id,
          ...(parent ? { 'verge.parent_request_id': parent } : {}),
          'verge.log.stream': stream,
        },
        traceId: trace?.sampled ? trace.traceId : undefined,
        spanId: trace?.sampled ? trace.spanId : undefined,
      });
    },
    onBreaker: (b, worker) => onBreaker(worker, versionKeyParts(b.version).app ?? '-', b.store, b.side, b.state, b.reason),
    hostCall: capabilities.handle,
    onRequestEnd: capabilities.endRequest,
    onDemoted: (request) => {
      metrics?.demotions.inc({ component: request.component });
      logger.info({ request_id: request.id, component: request.component }, 'guest spins: its worker gives way to the others');
    },
    onWorkerReplaced: (reason, worker) => {
      workerRestarts++;
      metrics?.workerRestarts.inc({ reason });
      metrics?.forgetBreakers(worker);
      logger.warn({ reason }, 'worker replaced');
    },
  });
  // Uploaded versions, deployments and the override cookies' secret live under the data dir, relative to the current folder.
  const stateDir = path.resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const override = auth ? createOverride({ secret: await nodeSecret(stateDir), checkAdminToken: auth.matches }) : undefined;
  // Triggers follow what is deployed: they subscribe after each deploy, swap or rollback.
  let triggers: RedisTriggers | undefined;
  // Validated before anything serves: a bad --cluster fails the start like any bad flag.
  const clusterConfig = opts.cluster && (await readClusterConfig(opts.cluster, stateDir, env));
  // Loaded here, so the join after the listeners start has no await in which an admin call could find no member.
  const membership = clusterConfig ? await import('../cluster/membership.js') : undefined;
  const clusterDeploys = clusterConfig ? await import('../cluster/deploys.js') : undefined;
  let cluster: ClusterMember | undefined;
  let replication: DeployReplication | undefined;
  const registry = new AppRegistry({
    pool,
    capabilities,
    override,
    onUnload: (v) => {
      metrics?.forgetVersion(v.key);
      logger.debug({ app: v.app.name, version: v.id.slice(0, 12) }, 'version unloaded');
    },
    onDeployed: () => triggers?.sync(),
  });
  chains = new Chains({ pool, hold: (key) => registry.hold(key), logger, tracing });
  triggers = new RedisTriggers({ registry, pool, logger, metrics: () => metrics, env: process.env, envFile: opts.envFile });

  const store = new VersionStore(stateDir);
  const fileApps = new Set(firstVersions.map((v) => v.app.name));
  const deploys = new DeployService({
    store,
    registry,
    logger,
    verifier,
    fileApps: () => fileApps,
    retainUploads: opts.retainUploads ?? DEFAULT_RETAIN_UPLOADS,
    onAutoRollback: (app) => metrics?.autoRollbacks.inc({ app }),
    cluster: () => replication,
  });
  // Before the admin listener: a clustered node never takes a deploy that bypasses the cluster.
  if (clusterConfig && clusterDeploys) replication = await clusterDeploys.createDeployReplication({ config: clusterConfig, service: deploys, stateDir, logger });

  let draining = false;
  let ingress: Listener | undefined;
  let admin: http.Server | undefined;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      // No trigger message starts a guest once the node stops.
      triggers?.close();
      // Leaving first: the others see this node gone while it still drains.
      await cluster?.close();
      deploys.stop();
      ingress?.stopAccepting();
      admin?.close();
      await pool.close(opts.drainMs ?? DEFAULT_DRAIN_MS);
      // The last requests' spans and log records go out, within a bound: a collector that is down cannot hold the exit.
      await otlp?.flush(TRACE_FLUSH_MS);
      await capabilities.close();
      ingress?.closeAllConnections();
      admin?.closeAllConnections();
      logger.info({}, 'stopped');
      flush();
    })());

  let url: string;
  let adminUrl: string | undefined;
  const tlsListeners: TlsListener[] = [];
  const warnings: string[] = [];
  try {
    // Only the admin listener serves GET /metrics: without it none are kept, and prom-client is not loaded.
    const metricsModule = adminAt ? import('../telemetry/metrics.js') : undefined;
    await pool.start();
    metrics = metricsModule
      ? (await metricsModule).createMetrics(
          { queued: () => pool.queued, busy: () => pool.busy, workers: () => pool.workers, versions: () => pool.loadedVersions.length },
          { versionLabels: (key) => ({ app: '-', version: '-', ...versionKeyParts(key) }) },
        )
      : metricsOff();
    for (const v of firstVersions) await registry.install(v);
    // What was deployed here before serves again, with or without the admin listener this time.
    await deploys.boot();
    deploys.startWatching();
    // What the dashboard shows of the traffic: kept only when an admin listener can show it.
    const traffic = adminAt ? { recent: new RecentRequests(), routes: new RouteStats() } : undefined;
    const onAnswered = traffic && ((r: AnsweredRequest): void => {
      traffic.recent.add(r);
      traffic.routes.record(r);
    });
    ingress = createIngress({ bind: (host, p, facts) => registry.bind(host, p, facts), pool, chains, logger, metrics, draining: () => draining, tls: publicTls?.context, onAnswered, tracing, dev: opts.dev === true });
    url = await listen(ingress.server, listenAt, '--listen', publicTls ? 'https' : 'http');
    if (opts.tls && publicTls) {
      tlsListeners.push({ name: 'public', files: opts.tls, flags: PUBLIC_TLS_FLAGS, server: ingress.server as tls.Server });
      logCertificate(logger, 'public', publicTls, 'tls certificate loaded');
    }
    if (adminAt && auth && traffic) {
      const dashboardApi = createDashboardApi({
        registry,
        recent: traffic.recent,
        stats: traffic.routes,
        pool: () => ({ workers: pool.workers, busy: pool.busy, queued: pool.queued, restarts: workerRestarts }),
        traces: traces && sampling && { store: traces, sampler: sampling },
        kvWrites: opts.kvWrites === true,
        audit: (fields) => logger.info(fields, 'admin'),
      });
      const api = createAdminApi({
        service: deploys,
        auth,
        logger,
        override,
        logs,
        node: () => ({ url, workers: pool.workers, apps: [...registry.deployments.keys()] }),
        routes: [dashboardApi, clusterRoute(clusterConfig ? () => cluster : undefined)],
      });
      admin = createAdminServer({ metrics, auth, api, dashboard: createAssetHandler() }, adminTls?.context);
      adminUrl = await listen(admin, adminAt, '--admin', adminTls ? 'https' : 'http');
      if (!auth.required) logger.warn({ admin: adminUrl }, 'the admin API has no token: any process on this machine can deploy (set VERGE_ADMIN_TOKEN)');
      if (opts.adminTls && adminTls) {
        tlsListeners.push({ name: 'admin', files: opts.adminTls, flags: ADMIN_TLS_FLAGS, server: admin as https.Server });
        logCertificate(logger, 'admin', adminTls, 'tls certificate loaded');
      } else if (!auth.loopback) {
        warnings.push(
          `the admin listener ${adminUrl} is reachable from other machines and has no TLS: what it serves travels in clear text. ` +
            `Give it ${ADMIN_TLS_FLAGS.cert} and ${ADMIN_TLS_FLAGS.key}, or listen on 127.0.0.1`,
        );
      }
    }
    if (clusterConfig && membership) {
      const describe = (): SelfDescription => ({
        url,
        admin_url: adminUrl ?? null,
        serves: Object.fromEntries([...registry.deployments].map(([app, d]) => [app, d.entries.map((e) => ({ id: e.version.id, weight: e.weight }))])),
        ...replication?.describe(),
      });
      // Joined once both listeners have their URLs, which the first heartbeat carries.
      const member = membership.joinCluster(clusterConfig, describe, logger, (nc) => replication?.attach(nc));
      cluster = replication && clusterDeploys ? clusterDeploys.withDeploys(member, replication) : member;
    }
  } catch (err) {
    // Whatever started is stopped again: a node that cannot serve exits.
    logger.error({ error: isVergeError(err) ? err.code : 'INTERNAL', reason: err instanceof Error ? err.message : String(err) }, 'start failed');
    await close();
    throw err;
  }

  const reload = async (source: AppSource): Promise<InstallResult> => {
    const draft = await source.read();
    verifier.verify(draft, source.label);
    const loaded = await loadVersion(draft);
    logLoad(logger, loaded);
    const result = await registry.install(loaded);
    if (result.kind === 'installed') {
      logger.info({ app: loaded.app.name, version: loaded.id.slice(0, 12), replaced: result.replaced?.id.slice(0, 12) }, 'version installed');
    }
    return result;
  };

  const reloadTls = (): VergeError[] => {
    const failed: VergeError[] = [];
    for (const l of tlsListeners) {
      try {
        const material = loadTls(l.files, l.flags);
        l.server.setSecureContext(material.context);
        logCertificate(logger, l.name, material, 'tls certificate reloaded');
      } catch (err) {
        const error = isVergeError(err) ? err : new VergeError('TLS_CONFIG_INVALID', `${l.flags.cert} ${l.files.cert}: ${String(err)}`, { cause: err });
        logger.error({ listener: l.name, error: error.code, reason: error.message }, 'tls reload failed; the listener keeps its current certificate');
        failed.push(error);
      }
    }
    return failed;
  };

  for (const w of warnings) logger.warn({ admin: adminUrl }, w);
  logger.info({ apps: [...registry.apps.keys()], url, admin: adminUrl, workers: pool.workers }, 'serving');
  const clusterInfo = clusterConfig && { nodeId: clusterConfig.nodeId, region: clusterConfig.region, servers: clusterConfig.address.shown };
  return { url, adminUrl, registry, sources, deploys, logger, logs, metrics: metrics!, reload, reloadTls, cluster: clusterInfo, warnings, close };
}
