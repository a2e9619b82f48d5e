/** Prometheus metrics, served on the admin listener's /metrics. docs/observability.md lists every series. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { replicationStatuses, type ReplicationStatus } from '../backends/replicated/status.js';
import type { RunMeasures } from '../dispatch/protocol.js';
import type { StatusName } from '../capabilities/abi.js';
import { describeHostCallCode, hostCallCode, type CapabilityName } from './host-call-codes.js';
import { epochMs } from './trace/context.js';
import { CounterFamily, HistogramFamily, type CounterChild, type HistogramChild } from './series.js';

/**
 * What the metrics need of a request's route: its pattern, and the app version and component
 * serving it. The target object is where the request's label children are kept (a route's target
 * lives as long as the routing table that holds it), so a request builds no label string.
 */
export interface MeteredRoute {
  readonly pattern: string;
  readonly target: {
    readonly version: { readonly key: string; readonly shortId: string; readonly app: { readonly name: string } };
    readonly component: { readonly name: string };
  };
}

export type BreakerLevel = 'closed' | 'half-open' | 'open';
const BREAKER_LEVELS: Record<BreakerLevel, number> = { closed: 0, 'half-open': 1, open: 2 };

export interface Metrics {
  registry: Registry;
  /** The request path's families (series.ts): a child is its series, so observing costs no label lookup. */
  requests: CounterFamily;
  duration: HistogramFamily;
  queueWait: HistogramFamily;
  instantiation: HistogramFamily;
  guestMemory: HistogramFamily;
  hostCalls: HistogramFamily;
  workerRestarts: Counter<'reason'>;
  deadlineKills: Counter<'component'>;
  /** Workers demoted because their guest spun (dispatch/pool.ts), by component. */
  demotions: Counter<'component'>;
  traps: Counter<'component' | 'code'>;
  breakerTransitions: Counter<'app' | 'store' | 'side' | 'state'>;
  autoRollbacks: Counter<'app'>;
  spansDropped: Counter<'reason'>;
  logRecordsDropped: Counter<'reason'>;
  /** Messages a trigger ([[trigger.redis]]) ran a component for, by outcome. */
  triggerMessages: Counter<'trigger' | 'app' | 'component' | 'outcome'>;
  /**
   * The per-request update, on the hot path: label children are looked up once per route and
   * kept. `route` is undefined when no route matched; `seconds` is observed only when one did.
   * `admittedAt` (epoch ms, when the pool was handed the request) and the worker's `measures`
   * give its queue wait; `gaveUpWaiting`: it timed out in the queue (observed with the time it waited).
   */
  observeRequest(route: MeteredRoute | undefined, status: number, seconds: number | undefined, admittedAt?: number, measures?: RunMeasures, gaveUpWaiting?: boolean): void;
  /** A host call answered on the main thread (over the host bridge), by the key of the version that made it. */
  observeHostCall(versionKey: string, component: string, capability: string, outcome: StatusName, seconds: number): void;
  /**
   * A KV breaker changed state: counted, and kept for the state gauge. `source` names the breaker's
   * owner: 'main' for a store on the main thread, a worker's thread id for its own breakers.
   */
  observeBreaker(source: string | number, app: string, store: string, side: 'read' | 'write', state: BreakerLevel): void;
  /** A worker is gone, and its breakers with it. */
  forgetBreakers(source: string | number): void;
  /**
   * The version was unloaded: its series are removed after `forgetAfterMs` (by then scraped with
   * their last values), unless the same app version (a reinstall of the same content) serves again.
   */
  forgetVersion(versionKey: string): void;
}

export interface MetricsOptions {
  /** The app name and short id in a version key (node/registry.ts's versionKeyParts). */
  versionLabels: (versionKey: string) => { app: string; version: string };
  /** How long an unloaded version's series stay (default 5 minutes). */
  forgetAfterMs?: number;
}

export const FORGET_VERSION_AFTER_MS = 5 * 60_000;

const SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const QUEUE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const INSTANTIATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const HOST_CALL_BUCKETS = [0.00001, 0.000025, 0.0001, 0.00025, 0.001, 0.0025, 0.01, 0.025, 0.1, 0.25, 1, 2.5, 10, 30];
/** 64 KiB (one page) to 4 GiB, doubling. */
const MEMORY_BUCKETS = Array.from({ length: 17 }, (_, i) => 65536 * 2 ** i);
const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'];
const UNMATCHED = '-';

type Labels = Record<string, string>;
type Removable = { remove(labels: Labels): void };

/** One app version's series: made lazily, removed together some time after it is unloaded. */
interface VersionSeries {
  readonly app: string;
  readonly version: string;
  /** Host-call children by component, then by code: shared by the worker's and the main thread's observations. */
  readonly hostCalls: Map<string, Array<HistogramChild | undefined>>;
  /** Every label set made for the version, by metric name and labels. */
  readonly made: Map<string, { metric: Removable; labels: Labels }>;
  forgotten: boolean;
}

/** A route's label children for one version: made on first use, kept with the route's target. */
interface RequestSeries {
  readonly v: VersionSeries;
  readonly route: string;
  readonly component: string;
  readonly byClass: Array<CounterChild | undefined>;
  duration: HistogramChild | undefined;
  queueWait: HistogramChild | undefined;
  /** Fresh, then prepared. */
  readonly instantiation: Array<HistogramChild | undefined>;
  memory: HistogramChild | undefined;
  readonly hostCalls: Array<HistogramChild | undefined>;
}

export function createMetrics(
  gauges: { queued: () => number; busy: () => number; workers: () => number; versions: () => number },
  options: MetricsOptions,
): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'verge_process_' });
  const forgetAfterMs = options.forgetAfterMs ?? FORGET_VERSION_AFTER_MS;
  const requests = new CounterFamily(
    'verge_requests_total',
    'Requests answered, by app, route (the manifest route pattern), component, app version (the first 12 characters of its id) ' +
      'and status class (2xx, 3xx, 4xx, 5xx). Requests no route matched have "-" for app, route, component and version.',
    ['app', 'route', 'component', 'version', 'status_class'],
    registry,
  );
  const duration = new HistogramFamily(
    'verge_request_duration_seconds',
    'Time from the request arriving to its response being written, by app, route, component and version (requests a route matched).',
    ['app', 'route', 'component', 'version'],
    SECONDS_BUCKETS,
    registry,
  );
  const queueWait = new HistogramFamily(
    'verge_queue_wait_seconds',
    'Time from admission to a worker taking the request, by app, component and version: every request a worker answered, ' +
      'and those that gave up waiting (503 QUEUE_TIMEOUT) with the time they waited.',
    ['app', 'component', 'version'],
    QUEUE_BUCKETS,
    registry,
  );
  const instantiation = new HistogramFamily(
    'verge_instantiation_seconds',
    'Time to make the guest instance that served a request, by app, component, version and instance: fresh (made on the ' +
      "request's path) or prepared (made ahead, after the previous response: a WAGI instance put back, a component's made or reset). Requests served by a kept " +
      'instance (instance_reuse) made none and are not observed.',
    ['app', 'component', 'version', 'instance'],
    INSTANTIATION_BUCKETS,
    registry,
  );
  const guestMemory = new HistogramFamily(
    'verge_guest_memory_bytes',
    "The guest's linear memory when its request ended (its core modules' together), by app, component and version. Linear memory " +
      'never shrinks, so this is the high-water mark of the instance; a recycled memory keeps (zeroed) what an earlier request grew it by, ' +
      'up to a bound. A histogram rather than a max gauge: it shows how many requests come near memory_mib, and sums across nodes.',
    ['app', 'component', 'version'],
    MEMORY_BUCKETS,
    registry,
  );
  const hostCalls = new HistogramFamily(
    'verge_host_call_duration_seconds',
    'Host calls a guest made, by app, component, version, capability (kv, outbound-http, variables, logging, files, postgres, redis) and outcome ' +
      '(ok, or the status: not_found, access_denied, limit_exceeded, unavailable, timeout, network, ...; error: a fault that is no status). ' +
      'Timed where they complete: in the worker, or on the main thread for calls over the host bridge.',
    ['app', 'component', 'version', 'capability', 'outcome'],
    HOST_CALL_BUCKETS,
    registry,
  );
  const workerRestarts = new Counter({
    name: 'verge_worker_restarts_total',
    help: 'Workers replaced, by reason (deadline: terminated at a deadline; crash: the worker died).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const deadlineKills = new Counter({
    name: 'verge_deadline_kills_total',
    help: 'Requests whose deadline passed, by component.',
    labelNames: ['component'] as const,
    registers: [registry],
  });
  const demotions = new Counter({
    name: 'verge_guest_demotions_total',
    help: "Requests whose guest kept computing (50 ms of CPU after its first 50 ms): its worker thread's priority was lowered and another worker served in its place, by component.",
    labelNames: ['component'] as const,
    registers: [registry],
  });
  const traps = new Counter({
    name: 'verge_guest_failures_total',
    help: 'Guest failures (traps, non-zero exits, memory faults, bad or oversized responses), by component and error code.',
    labelNames: ['component', 'code'] as const,
    registers: [registry],
  });
  const breakerTransitions = new Counter({
    name: 'verge_kv_breaker_transitions_total',
    help: 'KV circuit breaker state changes, by app, store, side (read or write) and new state (each worker has its own breakers for SQLite stores).',
    labelNames: ['app', 'store', 'side', 'state'] as const,
    registers: [registry],
  });
  /** Each breaker's last state, by owner, app, store and side; and every (app, store, side) ever seen, so a closed one reads 0 rather than vanishing. */
  const breakers = new Map<string, { source: string; labels: { app: string; store: string; side: string }; level: number }>();
  const breakerKeys = new Map<string, { app: string; store: string; side: string }>();
  new Gauge({
    name: 'verge_kv_breaker_state',
    help:
      'KV circuit breaker state by app, store and side: 0 closed, 1 half-open, 2 open; the worst of the node\'s breakers for it (each worker ' +
      'has its own for a SQLite store, a store on the main thread has one). Listed once a breaker of the store has changed state.',
    labelNames: ['app', 'store', 'side'] as const,
    registers: [registry],
    collect() {
      const worst = new Map<string, number>();
      for (const [key] of breakerKeys) worst.set(key, 0);
      for (const b of breakers.values()) {
        const key = `${b.labels.app}\0${b.labels.store}\0${b.labels.side}`;
        worst.set(key, Math.max(worst.get(key) ?? 0, b.level));
      }
      this.reset();
      for (const [key, level] of worst) this.set(breakerKeys.get(key)!, level);
    },
  });
  const autoRollbacks = new Counter({
    name: 'verge_canary_rollbacks_total',
    help: 'Canary versions whose weight was set to 0 automatically (5xx rate or p99 worse than the stable version), by app.',
    labelNames: ['app'] as const,
    registers: [registry],
  });
  const spansDropped = new Counter({
    name: 'verge_trace_spans_dropped_total',
    help: 'Spans that will never reach the OTLP collector, by reason (queue_full: the export queue was full; export_failed: the collector refused, failed or timed out).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const logRecordsDropped = new Counter({
    name: 'verge_log_export_records_dropped_total',
    help: 'Guest log records that will never reach the OTLP collector, by reason (queue_full: the export queue was full; export_failed: the collector refused, failed or timed out).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const triggerMessages = new Counter({
    name: 'verge_trigger_messages_total',
    help: 'Messages a trigger ran a component for, by trigger (redis), app, component and outcome (ok: the guest answered below 400; failed: it answered 400 or more, or failed).',
    labelNames: ['trigger', 'app', 'component', 'outcome'] as const,
    registers: [registry],
  });
  replicationGauges(registry);
  new Gauge({ name: 'verge_queue_depth', help: 'Requests admitted and waiting for a worker.', registers: [registry], collect() { this.set(gauges.queued()); } });
  new Gauge({ name: 'verge_requests_in_flight', help: 'Requests admitted and not yet answered.', registers: [registry], collect() { this.set(gauges.busy()); } });
  new Gauge({ name: 'verge_workers', help: 'Workers serving requests (spares not counted).', registers: [registry], collect() { this.set(gauges.workers()); } });
  new Gauge({
    name: 'verge_app_versions_loaded',
    help: 'App versions whose modules the workers hold: the serving ones and those still finishing requests.',
    registers: [registry],
    collect() {
      this.set(gauges.versions());
    },
  });

  const versions = new Map<string, VersionSeries>();
  const versionSeries = (key: string): VersionSeries => {
    let v = versions.get(key);
    if (!v) versions.set(key, (v = { ...options.versionLabels(key), hostCalls: new Map(), made: new Map(), forgotten: false }));
    return v;
  };
  /** A label child of a version's series, remembered so it can be removed with the version. */
  const child = <T>(v: VersionSeries, metric: Removable & { labels(labels: Labels): T }, name: string, labels: Labels): T => {
    const id = `${name}\0${JSON.stringify(labels)}`;
    if (!v.made.has(id)) v.made.set(id, { metric, labels });
    return metric.labels(labels);
  };
  const hostCallTable = (v: VersionSeries, component: string) => {
    let table = v.hostCalls.get(component);
    if (!table) v.hostCalls.set(component, (table = []));
    return table;
  };
  const hostCallChild = (v: VersionSeries, component: string, table: RequestSeries['hostCalls'], code: number): HistogramChild | undefined => {
    const known = table[code];
    if (known) return known;
    const labels = describeHostCallCode(code);
    if (!labels) return undefined;
    return (table[code] = child(v, hostCalls, 'host_call', { app: v.app, component, version: v.version, ...labels }));
  };

  const routes = new WeakMap<object, RequestSeries>();
  const seriesOf = (route: MeteredRoute): RequestSeries => {
    let s = routes.get(route.target);
    if (!s) {
      const v = versionSeries(route.target.version.key);
      const component = route.target.component.name;
      s = {
        v,
        route: route.pattern,
        component,
        byClass: [],
        duration: undefined,
        queueWait: undefined,
        instantiation: [],
        memory: undefined,
        hostCalls: hostCallTable(v, component),
      };
      routes.set(route.target, s);
    }
    return s;
  };
  const unmatched: Array<CounterChild | undefined> = [];
  const componentLabels = (s: RequestSeries) => ({ app: s.v.app, component: s.component, version: s.v.version });

  const observeRequest: Metrics['observeRequest'] = (route, status, seconds, admittedAt = NaN, measures, gaveUpWaiting = false) => {
    const cls = Math.min(5, Math.max(1, (status / 100) | 0));
    if (!route) {
      (unmatched[cls] ??= requests.labels({ app: UNMATCHED, route: UNMATCHED, component: UNMATCHED, version: UNMATCHED, status_class: STATUS_CLASSES[cls]! })).inc();
      return;
    }
    const s = seriesOf(route);
    const { v } = s;
    (s.byClass[cls] ??= child(v, requests, 'requests', { app: v.app, route: s.route, component: s.component, version: v.version, status_class: STATUS_CLASSES[cls]! })).inc();
    if (seconds !== undefined) (s.duration ??= child(v, duration, 'duration', { app: v.app, route: s.route, component: s.component, version: v.version })).observe(seconds);
    const waitedMs = measures ? measures.claimedAt - admittedAt : gaveUpWaiting ? epochMs() - admittedAt : NaN;
    if (!Number.isNaN(waitedMs)) (s.queueWait ??= child(v, queueWait, 'queue', componentLabels(s))).observe(Math.max(0, waitedMs) / 1e3);
    if (!measures) return;
    if (measures.instantiateMs >= 0) {
      const i = measures.prepared ? 1 : 0;
      (s.instantiation[i] ??= child(v, instantiation, 'instantiation', { ...componentLabels(s), instance: measures.prepared ? 'prepared' : 'fresh' })).observe(measures.instantiateMs / 1e3);
    }
    if (measures.memoryBytes >= 0) (s.memory ??= child(v, guestMemory, 'memory', componentLabels(s))).observe(measures.memoryBytes);
    const calls = measures.hostCalls;
    if (calls) for (let i = 0; i + 1 < calls.length; i += 2) hostCallChild(v, s.component, s.hostCalls, calls[i]!)?.observe(calls[i + 1]!);
  };

  const observeHostCall: Metrics['observeHostCall'] = (versionKey, component, capability, outcome, seconds) => {
    const v = versionSeries(versionKey);
    // A capability missing from capabilities/index.ts (a test's own) has no code, and is not observed.
    hostCallChild(v, component, hostCallTable(v, component), hostCallCode(capability as CapabilityName, outcome))?.observe(seconds);
  };

  const forgetVersion = (key: string): void => {
    const v = versions.get(key);
    if (!v) return;
    v.forgotten = true;
    const timer = setTimeout(() => {
      versions.delete(key);
      // The same app version installed again under a new key uses the same label children: they stay, and go with it.
      for (const other of versions.values()) {
        if (!other.forgotten && other.app === v.app && other.version === v.version) {
          for (const [id, made] of v.made) if (!other.made.has(id)) other.made.set(id, made);
          return;
        }
      }
      for (const { metric, labels } of v.made.values()) metric.remove(labels);
    }, forgetAfterMs);
    timer.unref();
  };

  const observeBreaker: Metrics['observeBreaker'] = (source, app, store, side, state) => {
    breakerTransitions.inc({ app, store, side, state });
    const labels = { app, store, side };
    const key = `${app}\0${store}\0${side}`;
    breakerKeys.set(key, labels);
    breakers.set(`${source}\0${key}`, { source: String(source), labels, level: BREAKER_LEVELS[state] });
  };
  const forgetBreakers = (source: string | number): void => {
    for (const [key, b] of breakers) if (b.source === String(source)) breakers.delete(key);
  };

  return {
    registry,
    requests,
    duration,
    queueWait,
    instantiation,
    guestMemory,
    hostCalls,
    workerRestarts,
    deadlineKills,
    demotions,
    traps,
    breakerTransitions,
    autoRollbacks,
    spansDropped,
    logRecordsDropped,
    triggerMessages,
    observeRequest,
    observeHostCall,
    observeBreaker,
    forgetBreakers,
    forgetVersion,
  };
}

/** Each open replicated store's link, by app and store (docs/cluster.md, "What an operator sees"). */
function replicationGauges(registry: Registry): void {
  const gauge = (name: string, help: string, read: (s: ReplicationStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['app', 'store'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of replicationStatuses()) this.set({ app: s.app, store: s.store }, read(s));
      },
    });
  gauge('verge_kv_replication_queued_changes', 'Changes to a replicated store made on this node that JetStream has not acknowledged yet (one per changed key).', (s) => s.queued_changes);
  gauge('verge_kv_replication_lag_seconds', 'Age of the oldest change of a replicated store still queued on this node (0 with none): how far the other nodes are behind it.', (s) => s.lag_ms / 1000);
  gauge('verge_kv_replication_inbound_pending', 'Stream messages of a replicated store this node has not applied yet: how far it is behind the others.', (s) => s.inbound_pending);
  gauge('verge_kv_replication_connected', 'A replicated store\'s link to NATS: 1 connected, 0 not (the store serves locally either way).', (s) => (s.connected ? 1 : 0));
}
