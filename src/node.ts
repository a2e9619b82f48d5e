/**
 * One Verge node: manifest → compiled modules → worker pool → ingress (+ optional admin
 * listener). The CLI's `up` is a thin wrapper over `startNode`; tests and benchmarks use it too.
 */
import http from 'node:http';
import os from 'node:os';
import type { AddressInfo } from 'node:net';
import { loadManifest } from './manifest/load.js';
import type { AppConfig, ComponentConfig } from './manifest/config.js';
import type { ModuleSpec } from './dispatch/protocol.js';
import { loadComponent, type LoadedComponent } from './guest/load.js';
import { WorkerPool } from './dispatch/pool.js';
import { createIngress } from './ingress/server.js';
import { Router, parsePattern } from './ingress/router.js';
import { createLogger, type LogLevel, type Logger } from './logging.js';
import { createMetrics, type Metrics } from './metrics.js';
import { VergeError, isVergeError } from './errors.js';
import { DEFAULT_DATA_DIR, prepareCapabilities } from './capabilities/runtime.js';
import type { OnBreakerChange } from './capabilities/kv/store-breakers.js';

export interface NodeOptions {
  manifest: string;
  listen?: string;
  admin?: string | undefined;
  workers?: number;
  queueLimit?: number;
  logLevel?: LogLevel;
  /** How long SIGTERM waits for in-flight requests. */
  drainMs?: number;
  /** SQLite stores live here (default .verge/data, relative to the manifest's folder). */
  dataDir?: string | undefined;
  /** A dotenv file with VERGE_VAR_* values. */
  envFile?: string | undefined;
}

export interface RunningNode {
  app: AppConfig;
  url: string;
  adminUrl: string | undefined;
  components: LoadedComponent[];
  logger: Logger;
  metrics: Metrics;
  close(): Promise<void>;
}

export const DEFAULT_LISTEN = '127.0.0.1:3000';
export const DEFAULT_QUEUE_LIMIT = 1024;
export const DEFAULT_DRAIN_MS = 10_000;

export function defaultWorkers(): number {
  return Math.max(1, os.availableParallelism());
}

export function parseListen(value: string, flag = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`${flag} expects HOST:PORT (for example 127.0.0.1:3000), got ${JSON.stringify(value)}`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function buildRouter(app: AppConfig): Router<ComponentConfig> {
  const router = new Router<ComponentConfig>();
  for (const r of app.routes) {
    const pattern = parsePattern(r.path);
    if (typeof pattern === 'string') throw new Error(`route ${r.path}: ${pattern}`); // validated at load
    router.add(pattern, app.components.get(r.component)!);
  }
  return router;
}

/** Listens, or fails with a LISTEN_FAILED that names the flag and says what to do. */
function listen(server: http.Server, where: { host: string; port: number }, flag: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const fail = (err: NodeJS.ErrnoException) => reject(listenError(err, where, flag));
    server.once('error', fail);
    server.listen(where.port, where.host, () => {
      server.off('error', fail);
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve(`http://${host}:${addr.port}`);
    });
  });
}

export function listenError(err: NodeJS.ErrnoException, where: { host: string; port: number }, flag: string): VergeError {
  const host = where.host.includes(':') ? `[${where.host}]` : where.host;
  const address = `${host}:${where.port}`;
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
  return new VergeError('LISTEN_FAILED', `${flag} ${address}: cannot listen: ${why}`, { cause: err });
}

export async function startNode(opts: NodeOptions): Promise<RunningNode> {
  const app = loadManifest(opts.manifest);
  const listenAt = parseListen(opts.listen ?? DEFAULT_LISTEN);
  const adminAt = opts.admin ? parseListen(opts.admin, '--admin') : undefined;
  const components = await Promise.all([...app.components.values()].map((c) => loadComponent(c)));
  const { logger, flush } = createLogger(opts.logLevel ?? 'info');
  let metrics: Metrics | undefined;
  const onBreaker: OnBreakerChange = (store, side, state, reason) => {
    metrics?.breakerTransitions.inc({ store, side, state });
    const line = { store, side, state, reason };
    if (state === 'open') logger.warn(line, 'kv circuit breaker opened');
    else logger.info(line, `kv circuit breaker ${state}`);
  };
  for (const c of components) {
    const loaded = c.component;
    if (loaded) {
      const how = loaded.transpileMs === undefined ? { from: 'transpile cache' } : { transpile_ms: loaded.transpileMs };
      logger.info({ component: c.spec.component, core_bytes: loaded.coreBytes, cache: loaded.cacheDir, ...how }, 'wasi:http component loaded');
    }
  }
  const caps = prepareCapabilities(app, { dataDir: opts.dataDir ?? DEFAULT_DATA_DIR, env: process.env, envFile: opts.envFile, onBreaker }, logger);

  const pool = new WorkerPool({
    size: opts.workers ?? defaultWorkers(),
    spares: 1,
    queueLimit: opts.queueLimit ?? DEFAULT_QUEUE_LIMIT,
    modules: components.map((c): ModuleSpec => ({ ...c.spec, grants: caps.grantsFor(app.components.get(c.spec.component)!) })),
    onGuestLog: (id, component, stream, level, line) => logger[level]({ request_id: id, component, stream, line }, stream === 'host' ? 'host call' : 'guest'),
    onBreaker,
    hostCall: caps.hostCalls.handle,
    onRequestEnd: caps.hostCalls.endRequest,
    onWorkerReplaced: (reason) => {
      metrics?.workerRestarts.inc({ reason });
      logger.warn({ reason }, 'worker replaced');
    },
  });
  // Whatever has started is stopped again if a later step fails: a node that cannot serve exits.
  const started: Array<() => unknown> = [() => caps.close(), () => flush()];
  const step = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      logger.error({ error: isVergeError(err) ? err.code : 'INTERNAL', reason: err instanceof Error ? err.message : String(err) }, 'start failed');
      for (const stop of started.splice(0).reverse()) await Promise.resolve().then(stop).catch(() => undefined);
      throw err;
    }
  };
  started.push(() => pool.close(0));
  await step(() => pool.start());
  metrics = createMetrics({ queued: () => pool.queued, busy: () => pool.busy, workers: () => pool.workers });

  let draining = false;
  const server = createIngress({ router: buildRouter(app), pool, logger, metrics, draining: () => draining });
  started.push(closeServer(server));
  const url = await step(() => listen(server, listenAt, '--listen'));

  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  if (adminAt) {
    const registry = metrics.registry;
    admin = http.createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
          (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'NOT_FOUND', message: 'the admin listener serves GET /metrics' }));
    });
    started.push(closeServer(admin));
    const adminServer = admin;
    adminUrl = await step(() => listen(adminServer, adminAt, '--admin'));
  }

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      server.close();
      admin?.close();
      server.closeIdleConnections();
      await pool.close(opts.drainMs ?? DEFAULT_DRAIN_MS);
      await caps.close();
      server.closeAllConnections();
      admin?.closeAllConnections();
      logger.info({}, 'stopped');
      flush();
    })());

  logger.info({ app: app.name, url, admin: adminUrl, workers: pool.workers }, 'serving');
  return { app, url, adminUrl, components, logger, metrics, close };
}

function closeServer(server: http.Server): () => void {
  return () => {
    server.close();
    server.closeAllConnections();
  };
}
