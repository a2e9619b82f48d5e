/** The outbound HTTP capability (main-thread side). See fetch.ts for how a call is checked. */
export { parseAllowedHosts, createOutboundPolicy, OutboundPolicy, type PolicyMatch } from './policy.js';
export { classifyAddress, type AddressClass } from './address.js';
export {
  sendOutbound,
  FORBIDDEN_REQUEST_HEADERS,
  type OutboundRequest,
  type OutboundResponse,
  type OutboundContext,
  type LookupFn,
  type ConnectTarget,
} from './fetch.js';
export {
  createRequestBudget,
  outboundLimits,
  DEFAULT_OUTBOUND_LIMITS,
  DEFAULT_OUTBOUND_TIMEOUT_MS,
  DEFAULT_MAX_RESPONSE_BYTES,
  DEFAULT_MAX_REDIRECTS,
  DEFAULT_MAX_REQUEST_BODY_BYTES,
  DEFAULT_MAX_OUTBOUND_REQUESTS,
  type OutboundLimits,
  type RequestBudget,
} from './limits.js';
export { OutboundError, isOutboundError, OUTBOUND_ABI_CODES, type OutboundErrorCode } from './errors.js';
