/** The outbound HTTP capability: `allowed_outbound_hosts`, verge:v1 http_*, wasi:http/outgoing-handler. */
import type { HostCall, HostReply, OutboundResponseSpec } from '../../dispatch/protocol.js';
import type { Capability, HostContext, RequestContext } from '../capability.js';
import { INTERNAL_DOMAIN, NEXT_COMPONENT, internalTarget } from '../../manifest/hosts.js';
import { outboundImports } from './bindings/wasi-p1.js';
import { outboundComponentImports } from './bindings/component.js';
import { isOutboundError } from './errors.js';
import { DEFAULT_OUTBOUND_LIMITS, createRequestBudget, outboundLimits, type OutboundLimits } from './limits.js';
import type { OutboundPolicy } from './policy.js';
import { checkChainGrants, readOutboundGrants } from './schema.js';
import { validateRequest } from './validate.js';
import { bytes } from './text.js';

/** undici costs ~45 ms to import: loaded on the first outbound call, not at every start. */
let fetchModule: Promise<typeof import('./fetch.js')> | undefined;

type Outbound = { policy: OutboundPolicy; limits: OutboundLimits; propagateTrace: boolean };

export const outboundHttpCapability: Capability = {
  name: 'outbound-http',
  manifest: {
    readComponent: (c, _app, problems) => {
      const { hosts, policy } = readOutboundGrants(c, problems);
      return { allowedOutboundHosts: Object.freeze(hosts), outboundPolicy: policy, tracePropagation: c.boolean('trace_propagation') ?? true };
    },
    checkApp: checkChainGrants,
  },
  inheritable: [{ key: 'allowed_outbound_hosts', fields: ['allowedOutboundHosts', 'outboundPolicy', 'tracePropagation'] }],
  provides: {
    vergeV1: ['http_send', 'http_response_status', 'http_response_headers', 'http_response_body', 'http_close'],
    wasi: ['wasi:http/outgoing-handler'],
  },
  prepare(app, ctx) {
    const policies = new Map<string, Outbound>();
    for (const c of app.components.values()) {
      if (!c.outboundPolicy) continue;
      policies.set(c.name, { policy: c.outboundPolicy, limits: outboundLimits({ timeoutMs: c.limits.outboundTimeoutMs }), propagateTrace: c.tracePropagation });
    }
    // A middleware may pass its request on (http://next.verge.internal) whatever else it may call.
    const middleware = new Set(app.routes.flatMap((r) => r.middleware));
    return {
      // From the config itself, not by name: a dependency's grants are made from its parent's config (docs/composition.md).
      // A middleware may pass its request on (http://next.verge.internal) whatever else it may call.
      grants: (c) => {
        if (!c.outboundPolicy && !middleware.has(c.name)) return { outbound: false };
        return { outbound: { maxRequestBodyBytes: outboundLimits({ timeoutMs: c.limits.outboundTimeoutMs }).maxRequestBodyBytes } };
      },
      hostCalls: {
        http: async (call, request) => {
          const outbound = policies.get(call.component);
          try {
            const target = chainTarget(call.request.url);
            if (target !== undefined) return await chained(call, target, outbound, request, ctx);
            if (!outbound) return { ok: false, status: 'ACCESS_DENIED', message: `component ${call.component} has no allowed_outbound_hosts` };
            request.local('http.budget', () => createRequestBudget()).take();
            const { sendOutbound } = await (fetchModule ??= import('./fetch.js'));
            // Propagation off for the component: the caller's context stays inside the node.
            const traceparent = outbound.propagateTrace ? call.traceparent : undefined;
            const response: OutboundResponseSpec = await sendOutbound(call.request, { ...outbound, signal: request.signal, traceparent });
            return { ok: true, value: response };
          } catch (err) {
            if (isOutboundError(err)) return { ok: false, status: err.code, message: err.message };
            throw err;
          }
        },
      },
    };
  },
  async close() {
    if (fetchModule) await (await fetchModule).closeOutboundPool();
  },
  bindings: { wasiP1: outboundImports, component: outboundComponentImports },
};

/** The component an http(s) URL's host names under verge.internal ('' for none); undefined for any other URL. */
function chainTarget(url: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return undefined; // refused as malformed by the usual checks
  }
  return internalTarget(hostname);
}

/**
 * A chained call: the grant (`http://COMPONENT.verge.internal` or `http://*.verge.internal`;
 * `next` for a middleware), the shape checks every outbound request gets, one unit of the
 * request's outbound budget; then the callee answers in-process. Its response is held to the
 * same cap as a response from the network.
 */
async function chained(call: HostCall & { op: 'http' }, target: string, outbound: Outbound | undefined, request: RequestContext, ctx: HostContext): Promise<HostReply> {
  const limits = outbound?.limits ?? DEFAULT_OUTBOUND_LIMITS;
  const valid = validateRequest(call.request, limits);
  const { url } = valid;
  if (target === '') return { ok: false, status: 'INVALID_ARGUMENT', message: `${url.host} names no component: a chained call goes to http://COMPONENT.${INTERNAL_DOMAIN}` };
  if (url.protocol !== 'http:' || (url.port !== '' && url.port !== '80')) {
    return { ok: false, status: 'INVALID_ARGUMENT', message: `${url.protocol}//${url.host}: a chained call is plain http on the default port (http://${target}.${INTERNAL_DOMAIN}); it never leaves the node` };
  }
  if (target !== NEXT_COMPONENT && !outbound?.policy.grantsChain(target)) {
    return {
      ok: false,
      status: 'ACCESS_DENIED',
      message: `component ${call.component} may not call http://${target}.${INTERNAL_DOMAIN}: its allowed_outbound_hosts needs "http://${target}.${INTERNAL_DOMAIN}" or "http://*.${INTERNAL_DOMAIN}"`,
    };
  }
  if (!ctx.chain) return { ok: false, status: 'UNAVAILABLE', message: 'chained calls are not served here' };
  request.local('http.budget', () => createRequestBudget()).take();
  const reply = await ctx.chain({ from: call, target, request: valid, traceparent: call.traceparent, signal: request.signal, maxResponseBytes: limits.maxResponseBytes });
  // A callee run in the caller's worker (a ChainedOrder) is held to the cap there.
  const response = reply.ok ? (reply.value as Partial<OutboundResponseSpec>) : undefined;
  if (response?.body && response.body.byteLength > limits.maxResponseBytes) {
    return { ok: false, status: 'LIMIT_EXCEEDED', message: `response from http://${url.host} is larger than the limit of ${bytes(limits.maxResponseBytes)} (maxResponseBytes)` };
  }
  return reply;
}
