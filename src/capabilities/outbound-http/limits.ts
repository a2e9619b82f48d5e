import { OutboundError } from './errors.js';
import { DEFAULT_LIMITS } from '../../manifest/config.js';

/** Total wall-clock time for one `http_send`, DNS, connects, redirects and body included: the manifest's default, written once there. */
export const DEFAULT_OUTBOUND_TIMEOUT_MS = DEFAULT_LIMITS.outboundTimeoutMs;
/** The response body is buffered by the host; past this many bytes the call fails. */
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** Redirect hops followed per call; one more is a NETWORK error. */
export const DEFAULT_MAX_REDIRECTS = 10;
/** The request body the guest may send. */
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;
/** Outbound calls per inbound request. */
export const DEFAULT_MAX_OUTBOUND_REQUESTS = 50;

export interface OutboundLimits {
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxRedirects: number;
  readonly maxRequestBodyBytes: number;
}

export const DEFAULT_OUTBOUND_LIMITS: OutboundLimits = Object.freeze({
  timeoutMs: DEFAULT_OUTBOUND_TIMEOUT_MS,
  maxResponseBytes: DEFAULT_MAX_RESPONSE_BYTES,
  maxRedirects: DEFAULT_MAX_REDIRECTS,
  maxRequestBodyBytes: DEFAULT_MAX_REQUEST_BODY_BYTES,
});

/** The defaults with some limits overridden (per component). */
export function outboundLimits(overrides: Partial<OutboundLimits> = {}): OutboundLimits {
  return Object.freeze({ ...DEFAULT_OUTBOUND_LIMITS, ...overrides });
}

/** A counter of outbound calls for one inbound request. Create one per inbound request. */
export interface RequestBudget {
  readonly max: number;
  readonly used: number;
  /** Counts one call; throws LIMIT_EXCEEDED when `max` calls were already made. */
  take(): void;
}

export function createRequestBudget(max: number = DEFAULT_MAX_OUTBOUND_REQUESTS): RequestBudget {
  if (!Number.isInteger(max) || max < 0) throw new RangeError(`budget must be a non-negative integer, got ${max}`);
  let used = 0;
  return {
    max,
    get used() {
      return used;
    },
    take() {
      if (used >= max) {
        throw new OutboundError('LIMIT_EXCEEDED', `at most ${max} outbound requests per request`);
      }
      used++;
    },
  };
}
