/**
 * Which of a deployment's versions serves a request, on the request path: an allowed override
 * first (override.ts), else the split (split.ts) placed by the sticky key (sticky.ts) or at
 * random. Also the deployment policy as the deploy request gives it: `sticky` and `auto_rollback`.
 */
import { VergeError } from '../errors.js';
import { pick, type Split } from './split.js';
import { keyFor, newStickyCookie, parseSticky, NO_STICKY, type StickyConfig } from './sticky.js';
import type { Override } from './override.js';
import { parseThresholds, type RollbackThresholds } from './auto-rollback.js';
import type { RequestHeaders } from './http.js';

export interface DeploymentPolicy {
  sticky?: StickyConfig;
  /** Undefined: canaries are never rolled back automatically. */
  autoRollback?: RollbackThresholds | undefined;
}

export interface RequestFacts {
  headers: RequestHeaders;
  clientAddress: string;
  /** The request came over TLS (a sticky cookie is then Secure). */
  secure?: boolean;
}

interface Choosable<V> {
  readonly app: string;
  readonly entries: ReadonlyArray<{ readonly version: V & { readonly id: string }; readonly weight: number }>;
  readonly policy: DeploymentPolicy;
  /** The split over the entries' ids, built once per deployment. */
  readonly split: Split;
  readonly ids: readonly string[];
}

export interface Choice<V> {
  version: V;
  /** Response headers to add (a sticky cookie just set). */
  headers: string[];
}

const NONE: string[] = [];

export function chooseVersion<V>(d: Choosable<V>, facts: RequestFacts, override: Override | undefined): Choice<V> {
  const forced = override?.select(d.app, facts.headers, d.ids);
  if (forced !== undefined) return { version: byId(d, forced), headers: NONE };
  const sticky = d.policy.sticky ?? NO_STICKY;
  let key = keyFor(sticky, facts.headers, facts.clientAddress);
  let headers = NONE;
  if (key === undefined && sticky.kind === 'cookie') {
    const fresh = newStickyCookie(sticky, { secure: facts.secure === true });
    key = fresh.key;
    headers = ['set-cookie', fresh.setCookie];
  }
  return { version: byId(d, pick(d.split, key)), headers };
}

function byId<V>(d: Choosable<V>, id: string): V {
  for (const e of d.entries) if (e.version.id === id) return e.version;
  throw new Error(`no version ${id} in the deployment of ${d.app}`);
}

/**
 * The policy in a deploy request's other fields: `sticky` (sticky.ts) and `auto_rollback`
 * (auto-rollback.ts: thresholds, `true` for the defaults, `false` for none; the defaults when absent).
 */
export function parseDeploymentPolicy(raw: Record<string, unknown>): DeploymentPolicy {
  const problems: string[] = [];
  const sink = { add: (path: string, message: string) => problems.push(`${path}: ${message}`) };
  for (const k of Object.keys(raw)) if (k !== 'sticky' && k !== 'auto_rollback') problems.push(`${k}: not a deploy setting (expected versions, sticky, auto_rollback)`);
  const sticky = parseSticky(raw.sticky, 'sticky', sink);
  const autoRollback = raw.auto_rollback === false ? undefined : parseThresholds(raw.auto_rollback === true ? undefined : raw.auto_rollback, 'auto_rollback', sink);
  if (problems.length > 0) throw new VergeError('DEPLOYMENT_INVALID', problems.join('; '));
  return { sticky, autoRollback };
}

/** The policy as the deploy request spells it, for the stored record and the API's answers. */
export function policyJson(p: DeploymentPolicy): Record<string, unknown> {
  const t = p.autoRollback;
  return {
    sticky: p.sticky ?? NO_STICKY,
    auto_rollback: t ? { min_requests: t.minRequests, max_error_rate_increase: t.maxErrorRateIncrease, max_p99_ratio: t.maxP99Ratio, window_seconds: t.windowSeconds } : false,
  };
}
