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

function listen(server: http.Server, where: { host: string; port: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(where.port, where.host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      resolve(`http://${host}:${addr.port}`);
    });
  });
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
  await pool.start();
  metrics = createMetrics({ queued: () => pool.queued, busy: () => pool.busy, workers: () => pool.workers });

  let draining = false;
  const server = createIngress({ router: buildRouter(app), version: caps.version, pool, logger, metrics, draining: () => draining });
  let url: string;
  try {
    url = await listen(server, listenAt);
  } catch (err) {
    await pool.close(0);
    throw err;
  }

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
    adminUrl = await listen(admin, adminAt);
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
