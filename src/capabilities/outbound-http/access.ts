/**
 * Outbound HTTP inside a worker, shared by both bindings: the grant check and the call over the
 * host bridge (the allow-list, SSRF rules, redirects and limits apply on the main thread, where
 * the network is), and verge:v1's per-request response handles.
 */
import { HostCallError } from '../abi.js';
import type { GuestScope } from '../../sandbox/scope.js';
import type { OutboundRequestSpec, OutboundResponseSpec } from '../../dispatch/protocol.js';
import { internalUrlTarget } from '../../manifest/hosts.js';
import { createRequestBudget } from './limits.js';
import { formatTraceparent } from '../../telemetry/trace/context.js';

export function outboundAccess(scope: GuestScope) {
  const responses = () => scope.frame.local('http.responses', () => ({ next: 0, open: new Map<number, OutboundResponseSpec>() }));

  const fetch = (request: OutboundRequestSpec): OutboundResponseSpec =>
    scope.traced(
      'outbound-http',
      request.method,
      () => clientAttributes(request),
      (span) => {
        // Refused here, the call is still a host call: timed, and a span when sampled.
        const { grants, component, trace } = scope.frame;
        if (!grants.outbound) {
          throw new HostCallError('ACCESS_DENIED', `component ${component} has no allowed_outbound_hosts, so ${describeTarget(request.url)} is refused`);
        }
        // The callee's parent: this client span when sampled, else the context passed through unsampled.
        // The main thread decides whether it leaves the node (trace_propagation); a chained call's callee always joins the trace.
        const traceparent = trace ? formatTraceparent(trace.traceId, span?.id ?? trace.spanId, trace.sampled) : undefined;
        const target = internalUrlTarget(request.url);
        // Every request of a chain runs in this worker, so the whole chain's calls, network or chained, are counted here.
        const budget = scope.inbound.local('http.budget', () => createRequestBudget());
        // A chained call runs here, in the caller's worker (sandbox/chained.ts); the main thread is told, not asked.
        if (target !== undefined) return scope.runChained(request, target, budget, traceparent);
        budget.take();
        return scope.call<OutboundResponseSpec>({ op: 'http', request, traceparent });
      },
      (response, span) => {
        if (!span) return;
        span.attributes['http.response.status_code'] = response.status;
        span.attributes['verge.http.redirects'] = response.redirects ?? 0;
        if (response.status >= 400) span.error = String(response.status);
      },
      'client',
    );

  const response = (handle: number): OutboundResponseSpec => {
    const r = responses().open.get(handle);
    if (!r) throw new HostCallError('INVALID_ARGUMENT', `no response has handle ${handle} (closed, or never returned by http_send)`);
    return r;
  };

  return {
    fetch,
    /** verge:v1: the response is kept under a handle until http_close or the end of the request. */
    send(request: OutboundRequestSpec): number {
      const r = fetch(request);
      const own = responses();
      const handle = own.next++;
      own.open.set(handle, r);
      return handle;
    },
    response,
    close(handle: number): void {
      if (!responses().open.delete(handle)) throw new HostCallError('INVALID_ARGUMENT', `no response has handle ${handle} (closed, or never returned by http_send)`);
    },
  };
}

function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'the request';
  }
}

/** A client span's attributes (HTTP semantic conventions): the method and host, never the path or query, which may carry secrets. */
function clientAttributes(request: OutboundRequestSpec): Record<string, string | number> {
  const attributes: Record<string, string | number> = { 'http.request.method': request.method };
  try {
    const u = new URL(request.url);
    attributes['server.address'] = u.hostname;
    attributes['server.port'] = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
    attributes['url.scheme'] = u.protocol.slice(0, -1);
  } catch {
    // An invalid URL is refused on the main thread; the span records the refusal.
  }
  return attributes;
}
