/** Prometheus metrics, served on the admin listener's /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'component' | 'status' | 'version'>;
  duration: Histogram<'component'>;
  workerRestarts: Counter<'reason'>;
  deadlineKills: Counter<'component'>;
  traps: Counter<'component' | 'code'>;
  breakerTransitions: Counter<'store' | 'side' | 'state'>;
  autoRollbacks: Counter<'app'>;
  spansDropped: Counter<'reason'>;
  logRecordsDropped: Counter<'reason'>;
  triggerMessages: Counter<'trigger' | 'app' | 'component' | 'outcome'>;
  /** The per-request update, on the hot path: label children are looked up once and cached. */
  observeRequest(component: string, status: number, seconds: number | undefined, version?: string): void;
}

export function createMetrics(gauges: { queued: () => number; busy: () => number; workers: () => number; versions: () => number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'verge_process_' });
  const requests = new Counter({
    name: 'verge_requests_total',
    help: 'Requests answered, by component ("-" when no route matched), HTTP status and app version (the first 12 characters of its id).',
    labelNames: ['component', 'status', 'version'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'verge_request_duration_seconds',
    help: 'Time from the request arriving to its response being written, by component.',
    labelNames: ['component'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
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
  const traps = new Counter({
    name: 'verge_guest_failures_total',
    help: 'Guest failures (traps, non-zero exits, memory faults, bad or oversized responses), by component and error code.',
    labelNames: ['component', 'code'] as const,
    registers: [registry],
  });
  const breakerTransitions = new Counter({
    name: 'verge_kv_breaker_transitions_total',
    help: 'KV circuit breaker state changes, by store, side (read or write) and new state (each worker has its own breakers for SQLite stores).',
    labelNames: ['store', 'side', 'state'] as const,
    registers: [registry],
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
  const requestChildren = new Map<string, Counter.Internal>();
  const durationChildren = new Map<string, Histogram.Internal<'component'>>();
  const observeRequest = (component: string, status: number, seconds: number | undefined, version = '-') => {
    const key = `${component} ${status} ${version}`;
    let counter = requestChildren.get(key);
    if (!counter) requestChildren.set(key, (counter = requests.labels(component, String(status), version)));
    counter.inc();
    if (seconds === undefined) return;
    let histogram = durationChildren.get(component);
    if (!histogram) durationChildren.set(component, (histogram = duration.labels(component)));
    histogram.observe(seconds);
  };
  return { registry, requests, duration, workerRestarts, deadlineKills, traps, breakerTransitions, autoRollbacks, spansDropped, logRecordsDropped, triggerMessages, observeRequest };
}
