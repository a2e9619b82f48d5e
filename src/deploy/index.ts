/**
 * Canary deployments as pure parts the node calls on the request path: the split (which version
 * serves), the sticky key (which client stays where), the override (a tester's pick), per-version
 * window stats, and the auto-rollback judge. docs/canary.md says how they behave together.
 */
export { parseSplit, pick, hashKey, SPLIT_LIMITS, VERSION_ID, type Split, type SplitEntry } from './split.js';
export { parseSticky, keyFor, newStickyCookie, NO_STICKY, DEFAULT_STICKY_COOKIE, STICKY_COOKIE_MAX_AGE_SECONDS, type StickyConfig } from './sticky.js';
export {
  createOverride,
  resolveVersion,
  OVERRIDE_HEADER,
  ADMIN_TOKEN_HEADER,
  OVERRIDE_COOKIE,
  OVERRIDE_LIMITS,
  type Override,
  type OverrideOptions,
  type IssuedOverride,
} from './override.js';
export { SlidingWindow, LATENCY_HISTOGRAM, type Snapshot, type WindowOptions } from './window.js';
export { judge, parseThresholds, DEFAULT_THRESHOLDS, ROLLBACK_RULES, type RollbackThresholds, type Verdict } from './auto-rollback.js';
export type { ProblemSink } from './problems.js';
export type { RequestHeaders } from './http.js';
