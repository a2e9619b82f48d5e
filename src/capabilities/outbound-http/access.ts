/**
 * Outbound HTTP inside a worker, shared by both bindings: the grant check and the call over the
 * host bridge (the allow-list, SSRF rules, redirects and limits apply on the main thread, where
 * the network is), and verge:v1's per-request response handles.
 */
import { HostCallError } from '../abi.js';
import type { GuestScope } from '../../sandbox/scope.js';
import type { OutboundRequestSpec, OutboundResponseSpec } from '../../dispatch/protocol.js';

export function outboundAccess(scope: GuestScope) {
  const responses = () => scope.frame.local('http.responses', () => ({ next: 0, open: new Map<number, OutboundResponseSpec>() }));

  const fetch = (request: OutboundRequestSpec): OutboundResponseSpec => {
    const { grants, component } = scope.frame;
    if (!grants.outbound) {
      throw new HostCallError('ACCESS_DENIED', `component ${component} has no allowed_outbound_hosts, so ${describeTarget(request.url)} is refused`);
    }
    return scope.call<OutboundResponseSpec>({ op: 'http', request });
  };

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
