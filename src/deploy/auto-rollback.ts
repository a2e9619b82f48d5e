/**
 * Automatic rollback: whether a canary's last window is bad enough, next to the stable version's
 * same window, to take its traffic away. The caller judges each canary (say once a second) from
 * two window.ts snapshots and, on a rollback, sets its weight to 0, logs and counts the event, and
 * shows the reason in `status`.
 *
 * Two rules; either rolls back:
 *  - 5xx rate: the canary's rate exceeds the stable version's (0 % when it served nothing) by more
 *    than maxErrorRateIncrease, and the gap is 4 standard errors clear of zero. The second half is
 *    what keeps noise out: judged every second over overlapping windows, a test that fired on one
 *    window in a thousand would roll back a healthy canary within the hour.
 *  - p99: the canary's p99 exceeds maxP99Ratio times the stable version's, and by at least 10 ms.
 *    Compared only when both served at least max(minRequests, 1000) requests in the window: with
 *    fewer, a p99 is the slowest one or two requests and says nothing.
 * A canary that served fewer than minRequests in the window is never rolled back.
 */
import { describeJson, integerIn, isObject, knownKeysOnly, type ProblemSink } from './problems.js';
import type { Snapshot } from './window.js';

export interface RollbackThresholds {
  /** Requests the canary must have served in the window before it can be judged. */
  readonly minRequests: number;
  /** How far the canary's 5xx rate may exceed the stable version's, as a fraction (0.05: 5 points). */
  readonly maxErrorRateIncrease: number;
  /** How many times the stable version's p99 the canary's may be. */
  readonly maxP99Ratio: number;
  /** The window the snapshots cover. */
  readonly windowSeconds: number;
}

export const DEFAULT_THRESHOLDS: RollbackThresholds = Object.freeze({
  minRequests: 100,
  maxErrorRateIncrease: 0.05,
  maxP99Ratio: 2,
  windowSeconds: 60,
});

/** The fixed parts of the rules (see the header). */
export const ROLLBACK_RULES = {
  /** Standard errors the 5xx gap must clear. */
  significanceZ: 4,
  /** Requests each side needs before p99s are compared. */
  p99MinRequests: 1000,
  /** A p99 increase under this is never a reason, whatever the ratio (a 1 ms handler at 2.5 ms is fine). */
  p99MinIncreaseMs: 10,
} as const;

export type Verdict = { readonly rollback: false } | { readonly rollback: true; readonly reason: string };

const KEEP: Verdict = Object.freeze({ rollback: false });

export function judge(stable: Snapshot, canary: Snapshot, thresholds: RollbackThresholds): Verdict {
  if (canary.requests < thresholds.minRequests) return KEEP;
  const window = `over the last ${thresholds.windowSeconds} s`;
  const increase = canary.errorRate - stable.errorRate;
  if (increase > thresholds.maxErrorRateIncrease && increase >= ROLLBACK_RULES.significanceZ * gapStandardError(stable, canary)) {
    return {
      rollback: true,
      reason: `5xx rate ${percent(canary.errorRate)} ${window} against ${percent(stable.errorRate)} on the stable version (threshold +${points(thresholds.maxErrorRateIncrease)} points, ${canary.requests} requests)`,
    };
  }
  const enough = Math.max(thresholds.minRequests, ROLLBACK_RULES.p99MinRequests);
  if (canary.requests < enough || stable.requests < enough || canary.p99Ms === null || stable.p99Ms === null) return KEEP;
  if (canary.p99Ms > thresholds.maxP99Ratio * stable.p99Ms && canary.p99Ms - stable.p99Ms >= ROLLBACK_RULES.p99MinIncreaseMs) {
    return {
      rollback: true,
      reason: `p99 ${ms(canary.p99Ms)} ${window} against ${ms(stable.p99Ms)} on the stable version (${ratio(canary.p99Ms / stable.p99Ms)}; threshold ${ratio(thresholds.maxP99Ratio)}, ${canary.requests} requests)`,
    };
  }
  return KEEP;
}

/**
 * The standard error of the gap between the two 5xx rates, from rates shrunk towards 1/2 by one
 * error and one success on each side (Agresti–Caffo): a canary with 3 errors out of 3 is not
 * certain to fail everything, and with none out of 100 not certain to fail nothing.
 */
function gapStandardError(stable: Snapshot, canary: Snapshot): number {
  const variance = (errors: number, requests: number) => {
    const p = (errors + 1) / (requests + 2);
    return (p * (1 - p)) / (requests + 2);
  };
  // A stable version that served nothing is a baseline of exactly 0 %, not an unknown.
  return Math.sqrt(variance(canary.errors5xx, canary.requests) + (stable.requests > 0 ? variance(stable.errors5xx, stable.requests) : 0));
}

const points = (fraction: number) => String(Math.round(fraction * 1000) / 10);
const percent = (fraction: number) => `${points(fraction)}%`;
const ms = (value: number) => `${value >= 100 ? Math.round(value) : Number(value.toPrecision(2))} ms`;
const ratio = (value: number) => `${Math.round(value * 10) / 10}x`;

const THRESHOLD_KEYS = ['min_requests', 'max_error_rate_increase', 'max_p99_ratio', 'window_seconds'];

/**
 * The thresholds in `raw` (`{ "min_requests": 100, "max_error_rate_increase": 0.05,
 * "max_p99_ratio": 2, "window_seconds": 60 }`, each optional; absent is every default), or
 * undefined after reporting every problem under `path`.
 */
export function parseThresholds(raw: unknown, path: string, problems: ProblemSink): RollbackThresholds | undefined {
  if (raw === undefined) return DEFAULT_THRESHOLDS;
  if (!isObject(raw)) {
    problems.add(path, `expected an object with any of ${THRESHOLD_KEYS.map((k) => JSON.stringify(k)).join(', ')}, got ${describeJson(raw)}`);
    return undefined;
  }
  let ok = knownKeysOnly(raw, THRESHOLD_KEYS, path, problems);
  const optional = (key: string, fallback: number, read: (v: unknown, keyPath: string) => number | undefined): number => {
    if (raw[key] === undefined) return fallback;
    const value = read(raw[key], `${path}.${key}`);
    if (value === undefined) ok = false;
    return value ?? fallback;
  };
  const number = (v: unknown, keyPath: string, valid: (n: number) => boolean, expected: string): number | undefined => {
    if (typeof v === 'number' && valid(v)) return v;
    problems.add(keyPath, `expected ${expected}, got ${describeJson(v)}`);
    return undefined;
  };
  const d = DEFAULT_THRESHOLDS;
  const thresholds: RollbackThresholds = {
    minRequests: optional('min_requests', d.minRequests, (v, p) => integerIn(v, p, problems, { min: 1, max: 1_000_000, unit: 'requests in the window' })),
    maxErrorRateIncrease: optional('max_error_rate_increase', d.maxErrorRateIncrease, (v, p) =>
      number(v, p, (n) => n >= 0 && n <= 1, 'a fraction from 0 to 1 (0.05 allows 5 points more 5xx than the stable version)'),
    ),
    maxP99Ratio: optional('max_p99_ratio', d.maxP99Ratio, (v, p) => number(v, p, (n) => n > 1 && n <= 1000, 'a number above 1, at most 1000 (2 allows twice the stable p99)')),
    windowSeconds: optional('window_seconds', d.windowSeconds, (v, p) => integerIn(v, p, problems, { min: 10, max: 600, unit: 'seconds' })),
  };
  return ok ? Object.freeze(thresholds) : undefined;
}
