/** The outbound HTTP capability: `allowed_outbound_hosts`, verge:v1 http_*, wasi:http/outgoing-handler. */
import type { OutboundResponseSpec } from '../../dispatch/protocol.js';
import type { Capability } from '../capability.js';
import { INTERNAL_DOMAIN, internalUrlTarget } from '../../manifest/hosts.js';
import { outboundImports } from './bindings/wasi-p1.js';
import { outboundComponentImports } from './bindings/component.js';
import { isOutboundError } from './errors.js';
import { createRequestBudget, outboundLimits, type OutboundLimits } from './limits.js';
import type { OutboundPolicy } from './policy.js';
import { checkChainGrants, readOutboundGrants } from './schema.js';

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
  prepare(app) {
    const policies = new Map<string, Outbound>();
    for (const c of app.components.values()) {
      if (!c.outboundPolicy) continue;
      policies.set(c.name, { policy: c.outboundPolicy, limits: outboundLimits({ timeoutMs: c.limits.outboundTimeoutMs }), propagateTrace: c.tracePropagation });
    }
    // A middleware may pass its request on (http://next.verge.internal) whatever else it may call.
    const middleware = new Set(app.routes.flatMap((r) => r.middleware));
    return {
      // From the config itself, not by name: a dependency's grants are made from its parent's config (docs/composition.md).
      // `chains` is what the worker checks a chained call against (sandbox/chained.ts).
      grants: (c) => {
        if (!c.outboundPolicy && !middleware.has(c.name)) return { outbound: false };
        const limits = outboundLimits({ timeoutMs: c.limits.outboundTimeoutMs });
        const policy = c.outboundPolicy;
        const chains = policy ? policy.chainGrants() : [];
        return { outbound: { maxRequestBodyBytes: limits.maxRequestBodyBytes, maxResponseBytes: limits.maxResponseBytes, chains } };
      },
      hostCalls: {
        http: async (call, request) => {
          const outbound = policies.get(call.component);
          try {
            // The caller's worker runs chained calls itself (sandbox/chained.ts): one never comes here.
            if (internalUrlTarget(call.request.url) !== undefined) {
              return { ok: false, status: 'INVALID_ARGUMENT', message: `a host under ${INTERNAL_DOMAIN} is reached by a chained call, which the caller's worker runs, not by the network` };
            }
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
