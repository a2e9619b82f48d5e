/**
 * The admin API calls the dashboard reads, beside deploy's (docs/observability.md):
 *
 *   GET /v1/stats                                 worker pool, process memory, and per route the
 *                                                 request rate, 5xx rate and p50/p99 over the last 10 s
 *   GET /v1/requests?limit=&app=&failed=          the last requests answered, newest first
 *   GET /v1/requests/ID                           one of them
 *   GET /v1/requests/ID/trace                     its spans, for the waterfall (when it was sampled)
 *   GET /v1/apps/APP/routes                       per live version: its weight, routes and components
 *   GET /v1/apps/APP/stores                       the app's key-value stores
 *   GET /v1/apps/APP/stores/S/keys?prefix=&after=&limit=   keys in byte order, a page at a time
 *   GET /v1/apps/APP/stores/S/keys/KEY            one value: JSON, text or binary, and a hex dump;
 *                                                 with encoding=base64, its exact bytes instead
 *   PUT /v1/apps/APP/stores/S/keys/KEY            set it to the body's bytes       } only on a node
 *   DELETE /v1/apps/APP/stores/S/keys/KEY         delete it (404 when absent)       } with --kv-writes
 *
 * Read-only but for those two writes, which the operator switches on (`verge up --kv-writes`) and
 * which are logged with the caller's token fingerprint. The admin API checks the token first.
 */
import { VergeError } from '../errors.js';
import { NAME as APP_NAME } from '../manifest/load.js';
import { primary, type AppRegistry, type ServingVersion } from '../node/registry.js';
import { KV_LIMITS } from '../capabilities/kv/limits.js';
import { isStoreError } from '../backends/store.js';
import type { ReadableStore, StoreView } from '../capabilities/capability.js';
import type { AdminRequest, AdminRoute } from '../admin/api.js';
import type { AnsweredRequest } from '../ingress/server.js';
import type { RecentRequests } from './recent-requests.js';
import { traceJson, type RecentTraces, type TraceJson } from './recent-traces.js';
import type { SamplerConfig } from '../telemetry/tracing.js';
import type { RateSnapshot, RouteStats } from './route-stats.js';
import { viewValue } from './kv-value.js';

export const DASHBOARD_API_LIMITS = Object.freeze({
  /** Recent requests in one answer. */
  maxRequests: 500,
  defaultRequests: 100,
  /** Keys in one page. */
  maxKeys: 1000,
  defaultKeys: 50,
});

export interface PoolState {
  workers: number;
  busy: number;
  queued: number;
  restarts: number;
}

export interface DashboardDeps {
  registry: AppRegistry;
  recent: RecentRequests;
  stats: RouteStats;
  pool: () => PoolState;
  /** The traces kept for the waterfall and the sampler that chose them; undefined when tracing is off. */
  traces: { store: RecentTraces; sampler: SamplerConfig } | undefined;
  /** The operator's switch (`verge up --kv-writes`): PUT and DELETE of store keys through the admin API. */
  kvWrites: boolean;
  /** Records an admin write (who, what), as deploys are logged. */
  audit: (fields: Record<string, unknown>) => void;
}

export function createDashboardApi(deps: DashboardDeps): AdminRoute {
  return (req) => {
    const [app, stores, storeName, keysPart, key] = req.parts.slice(1);
    const isKeyPath = req.parts[0] === 'apps' && req.parts.length === 6 && stores === 'stores' && keysPart === 'keys';
    if (isKeyPath && (req.method === 'PUT' || req.method === 'DELETE')) return writeKey(deps, req, app!, storeName!, decode(key!));
    if (req.method !== 'GET') return undefined;
    const [first, second, third, fourth, fifth, sixth] = req.parts;
    const n = req.parts.length;
    if (first === 'stats' && n === 1) return Promise.resolve(stats(deps));
    if (first === 'requests' && n === 1) return Promise.resolve(requests(deps, req));
    if (first === 'requests' && n === 2) return Promise.resolve(oneRequest(deps, decode(second!)));
    if (first === 'requests' && n === 3 && third === 'trace') return Promise.resolve(requestTrace(deps, decode(second!)));
    if (first !== 'apps' || n < 3) return undefined;
    if (third === 'routes' && n === 3) return Promise.resolve(routes(serving(deps, second!)));
    if (third !== 'stores') return undefined;
    if (n === 3) return Promise.resolve(storesOf(deps, second!));
    if (n === 5 && fifth === 'keys') return store(deps, second!, fourth!).then((s) => keys(s, req));
    if (n === 6 && fifth === 'keys') return store(deps, second!, fourth!).then((s) => value(s, decode(sixth!), req.query.get('encoding')));
    return undefined;
  };
}

function stats(deps: DashboardDeps): Record<string, unknown> {
  const mem = process.memoryUsage();
  const live = deps.stats.routes();
  const seen = new Set(live.map((r) => `${r.app}\n${r.route}\n${r.component}\n${r.version}`));
  const rows = live.map((r) => ({ app: r.app, route: r.route, component: r.component, version: r.version, ...rateJson(r.stats) }));
  // Routes of serving versions that had no request in the window are listed too, at zero.
  for (const [app, d] of deps.registry.deployments) {
    for (const { version } of d.entries) {
      for (const r of version.app.routes) {
        if (seen.has(`${app}\n${r.path}\n${r.component}\n${version.shortId}`)) continue;
        rows.push({ app, route: r.path, component: r.component, version: version.shortId, ...rateJson(undefined) });
      }
    }
  }
  rows.sort((a, b) => order(a.app, b.app) || order(a.route, b.route) || order(a.version, b.version));
  return {
    at: new Date().toISOString(),
    window_seconds: deps.stats.windowMs / 1000,
    pool: deps.pool(),
    memory: { rss: mem.rss, heap_used: mem.heapUsed, heap_total: mem.heapTotal, external: mem.external, array_buffers: mem.arrayBuffers },
    totals: rateJson(deps.stats.totals()),
    routes: rows,
  };
}

/** The API's spelling of a window's numbers (as the app status has them, plus the rate). */
function rateJson(s: RateSnapshot | undefined) {
  return {
    requests: s?.requests ?? 0,
    rate_per_second: s?.ratePerSecond ?? 0,
    errors_5xx: s?.errors5xx ?? 0,
    error_rate: s?.errorRate ?? 0,
    p50_ms: s?.p50Ms ?? null,
    p99_ms: s?.p99Ms ?? null,
  };
}

function requests(deps: DashboardDeps, req: AdminRequest): Record<string, unknown> {
  const limit = intParam(req.query, 'limit', DASHBOARD_API_LIMITS.defaultRequests, DASHBOARD_API_LIMITS.maxRequests);
  const failed = req.query.get('failed');
  const list = deps.recent.list(limit, { app: req.query.get('app') ?? undefined, failed: failed === null ? undefined : failed === '1' || failed === 'true' });
  return { capacity: deps.recent.capacity, requests: list.map(requestJson) };
}

function oneRequest(deps: DashboardDeps, id: string): Record<string, unknown> {
  const r = deps.recent.find(id);
  if (!r) throw new VergeError('REQUEST_NOT_FOUND', `request ${JSON.stringify(id.slice(0, 64))} is not among the last ${deps.recent.capacity} requests this node answered`);
  return requestJson(r);
}

/** A request's trace, or why there is none: tracing off, not sampled, or no longer kept. */
function requestTrace(deps: DashboardDeps, id: string): TraceJson {
  const traces = deps.traces;
  const kept = traces?.store.find(id);
  if (kept) return traceJson(kept);
  const shown = JSON.stringify(id.slice(0, 64));
  if (!deps.recent.find(id)) {
    throw new VergeError('REQUEST_NOT_FOUND', `request ${shown} is not among the last ${deps.recent.capacity} requests this node answered, and no trace of it is kept`);
  }
  if (!traces) throw new VergeError('TRACE_NOT_FOUND', `request ${shown} has no trace: tracing is off on this node (OTEL_SDK_DISABLED=true)`);
  if (traces.store.wasEvicted(id)) {
    const { capacity, maxBytes } = traces.store.limits;
    throw new VergeError('TRACE_NOT_FOUND', `the trace of request ${shown} is no longer kept: the node keeps the last ${capacity} traces within about ${maxBytes / 1024 / 1024} MiB, and newer ones pushed it out`);
  }
  throw new VergeError('TRACE_NOT_FOUND', `request ${shown} has no trace: it was not sampled, because ${whyUnsampled(traces.sampler)}`);
}

function whyUnsampled({ sampler, ratio }: SamplerConfig): string {
  const caller = 'its caller sent a traceparent marked unsampled';
  if (sampler === 'parentbased_always_on') return `${caller}, which the sampler (OTEL_TRACES_SAMPLER=${sampler}) follows`;
  const which = sampler.endsWith('traceidratio')
    ? `keeps ${Number((ratio * 100).toPrecision(6))} % of new traces`
    : sampler.endsWith('always_off')
      ? 'keeps no new trace'
      : 'samples every request, yet this one was not recorded';
  return `the sampler (OTEL_TRACES_SAMPLER=${sampler}) ${which}${sampler.startsWith('parentbased_') ? `, or ${caller}` : ''}`;
}

function requestJson(r: AnsweredRequest): Record<string, unknown> {
  return {
    id: r.id,
    at: new Date(r.at).toISOString(),
    method: r.method,
    path: r.path,
    route: r.route,
    app: r.app ?? null,
    component: r.component ?? null,
    version: r.version ?? null,
    status: r.status,
    duration_ms: Math.round(r.durationMs * 1000) / 1000,
    error: r.error ?? null,
  };
}

/** The app's versions that take requests now, heaviest first. */
function serving(deps: DashboardDeps, rawApp: string): { app: string; versions: Array<{ version: ServingVersion; weight: number }> } {
  const app = appName(rawApp);
  const d = deps.registry.deployments.get(app);
  if (!d) throw new VergeError('APP_NOT_FOUND', `app ${app} is not deployed on this node`);
  return { app, versions: [...d.entries].sort((a, b) => b.weight - a.weight) };
}

function routes({ app, versions }: ReturnType<typeof serving>): Record<string, unknown> {
  return {
    app,
    versions: versions.map(({ version, weight }) => ({
      id: version.id,
      short_id: version.shortId,
      weight,
      installed_at: version.installedAt.toISOString(),
      inflight: version.inflight,
      routes: version.app.routes.map((r) => ({ path: r.path, component: r.component })),
      components: version.components.map((c) => {
        const config = version.app.components.get(c.spec.component)!;
        return {
          name: config.name,
          kind: c.spec.kind,
          bytes: c.bytes,
          key_value_stores: config.keyValueStores,
          allowed_outbound_hosts: config.allowedOutboundHosts,
          // Names only: values may be secrets.
          variables: config.variables,
          limits: {
            memory_mib: config.limits.memoryMib,
            timeout_ms: config.limits.timeoutMs,
            max_request_bytes: config.limits.maxRequestBytes,
            max_response_bytes: config.limits.maxResponseBytes,
          },
        };
      }),
    })),
  };
}

function storesOf(deps: DashboardDeps, rawApp: string): Record<string, unknown> {
  const { app, version } = primaryOf(deps, rawApp);
  return { app, writable: deps.kvWrites, stores: version.capabilities.stores().map((s) => ({ name: s.name, backend: s.backend, replication: s.replication?.() ?? null })) };
}

function primaryOf(deps: DashboardDeps, rawApp: string): { app: string; version: ServingVersion } {
  const app = appName(rawApp);
  const d = deps.registry.deployments.get(app);
  if (!d) throw new VergeError('APP_NOT_FOUND', `app ${app} is not deployed on this node`);
  // Every version of an app shares its stores; the primary's declarations name them.
  return { app, version: primary(d) };
}

async function store(deps: DashboardDeps, rawApp: string, rawStore: string): Promise<StoreView> {
  const { app, version } = primaryOf(deps, rawApp);
  const name = decode(rawStore);
  const all = version.capabilities.stores();
  const found = all.find((s) => s.name === name);
  if (!found) throw new VergeError('KV_STORE_NOT_FOUND', `app ${app} has no key-value store named ${JSON.stringify(name.slice(0, 64))}; its stores: ${all.map((s) => s.name).join(', ')}`);
  return found;
}

async function writeKey(deps: DashboardDeps, req: AdminRequest, rawApp: string, rawStore: string, key: string): Promise<Record<string, unknown>> {
  if (!deps.kvWrites) {
    throw new VergeError('KV_WRITES_DISABLED', 'this node does not write stores through the admin API: start it with verge up --kv-writes (the operator\'s switch)');
  }
  const s = await store(deps, rawApp, rawStore);
  checkKey(s, key);
  const app = decode(rawApp);
  if (req.method === 'DELETE') {
    const existed = await useStore(s, 'written', () => s.write((st) => st.delete(key)));
    if (!existed) throw keyNotFound(s, key);
    deps.audit({ admin: req.who, action: 'kv-delete', app, store: s.name, key });
    return { store: s.name, key, deleted: true };
  }
  const bytes = await req.body(KV_LIMITS.maxValueBytes);
  if (bytes === undefined) throw new VergeError('KV_VALUE_TOO_LARGE', `store ${s.name}: a value is at most ${KV_LIMITS.maxValueBytes} bytes`);
  await useStore(s, 'written', () => s.write((st) => st.set(key, new Uint8Array(bytes))));
  deps.audit({ admin: req.who, action: 'kv-set', app, store: s.name, key, size: bytes.length });
  return { store: s.name, key, size: bytes.length };
}

function checkKey(s: StoreView, key: string): void {
  if (key === '' || Buffer.byteLength(key) > KV_LIMITS.maxKeyBytes) {
    throw new VergeError('KV_KEY_NOT_FOUND', `store ${s.name}: a key is 1 to ${KV_LIMITS.maxKeyBytes} bytes of UTF-8`);
  }
}

function keyNotFound(s: StoreView, key: string): VergeError {
  return new VergeError('KV_KEY_NOT_FOUND', `store ${s.name} has no key ${JSON.stringify(key.slice(0, 200))}`);
}

async function keys(s: StoreView, req: AdminRequest): Promise<Record<string, unknown>> {
  const prefix = req.query.get('prefix') ?? '';
  const after = req.query.get('after') ?? undefined;
  const limit = intParam(req.query, 'limit', DASHBOARD_API_LIMITS.defaultKeys, DASHBOARD_API_LIMITS.maxKeys);
  // One more than asked tells whether another page follows.
  const found = await readStore(s, (st) => st.listKeys(prefix, after, limit + 1));
  const page = found.slice(0, limit);
  return { store: s.name, prefix, keys: page, next: found.length > limit ? page.at(-1)! : null };
}

async function value(s: StoreView, key: string, encoding: string | null): Promise<Record<string, unknown>> {
  checkKey(s, key);
  const bytes = await readStore(s, (st) => st.get(key));
  if (bytes === undefined) throw keyNotFound(s, key);
  // The view's text and hex stop at display limits; a client saving the value needs every byte.
  if (encoding === 'base64') return { store: s.name, key, size: bytes.length, base64: Buffer.from(bytes).toString('base64') };
  return { store: s.name, key, ...viewValue(bytes) };
}

function readStore<T>(s: StoreView, use: (store: ReadableStore) => Promise<T>): Promise<T> {
  return useStore(s, 'read', () => s.read(use));
}

async function useStore<T>(s: StoreView, how: 'read' | 'written', run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (isStoreError(err)) throw new VergeError('KV_STORE_UNAVAILABLE', `store ${s.name} cannot be ${how} now: ${err.message}`, { cause: err });
    throw err;
  }
}

function appName(raw: string): string {
  const app = decode(raw);
  if (!APP_NAME.test(app)) throw new VergeError('APP_NOT_FOUND', `${JSON.stringify(app.slice(0, 64))} is not an app name`);
  return app;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new VergeError('BAD_REQUEST', `the path segment ${JSON.stringify(segment.slice(0, 64))} has a malformed percent-encoding`);
  }
}

function intParam(query: URLSearchParams, name: string, fallback: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new VergeError('BAD_REQUEST', `${name}: expected a whole number from 1 to ${max}, got ${JSON.stringify(raw.slice(0, 20))}`);
  return Math.min(n, max);
}

function order(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
