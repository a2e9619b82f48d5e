/**
 * The metrics of a node without an admin listener. Only that listener serves GET /metrics, so
 * nothing could ever read them: none are kept, and prom-client (with the OpenTelemetry API it
 * requires, ~75 modules) is never loaded, which is a quarter of the main thread's start-up
 * imports and several MiB of its memory.
 */
import type { Metrics } from './metrics.js';

const counter = { inc(): void {} };
const family = { labels: () => ({ inc(): void {}, observe(): void {} }), remove(): void {} };

export function metricsOff(): Metrics {
  const off = {
    registry: undefined,
    requests: family,
    duration: family,
    queueWait: family,
    instantiation: family,
    guestMemory: family,
    hostCalls: family,
    workerRestarts: counter,
    deadlineKills: counter,
    demotions: counter,
    traps: counter,
    breakerTransitions: counter,
    autoRollbacks: counter,
    spansDropped: counter,
    logRecordsDropped: counter,
    triggerMessages: counter,
    observeRequest(): void {},
    observeHostCall(): void {},
    observeBreaker(): void {},
    forgetBreakers(): void {},
    forgetVersion(): void {},
  } satisfies Record<keyof Metrics, unknown>;
  // prom-client's classes are only types here: what callers use of them (inc, labels) is above.
  return off as unknown as Metrics;
}
