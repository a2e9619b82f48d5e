/**
 * wasi:http/outgoing-handler for components. The call runs when the guest first asks for its
 * result (by then it has written its body), through outbound-http/access.ts like verge:v1's
 * http_send. A future kept by a reused instance past the request that made it fails.
 */
import type { HostCallError } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { guarded } from '../../component-result.js';
import { err, ok, type Result } from '../../../sandbox/component/wasi-io.js';
import { FORBIDDEN_HEADERS, Fields, FutureIncomingResponse, IncomingResponse, methodName, type ErrorCode, type OutgoingRequest, type RequestOptions } from '../../../sandbox/component/wasi-http.js';
import { outboundAccess } from '../access.js';

const httpError = (e: HostCallError): ErrorCode => {
  switch (e.status) {
    case 'ACCESS_DENIED':
      return { tag: 'HTTP-request-denied' };
    case 'TIMEOUT':
      return { tag: 'connection-timeout' };
    case 'NETWORK':
      return { tag: 'destination-unavailable' };
    case 'INVALID_ARGUMENT':
      return { tag: 'HTTP-request-URI-invalid' };
    default:
      return { tag: 'internal-error', val: `${e.status}: ${e.message}` };
  }
};

export function outboundComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  const http = outboundAccess(scope);
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  /** The body is whole by now, so the host frames it: a guest's content-length (ComponentizeJS sets one) is dropped. */
  const send = (request: OutgoingRequest): Result<IncomingResponse, ErrorCode> => {
    const scheme = request.scheme_ === undefined ? 'https' : request.scheme_.tag === 'other' ? request.scheme_.val : request.scheme_.tag.toLowerCase();
    const url = `${scheme}://${request.authority_ ?? ''}${request.path ?? '/'}`;
    const body = request.outgoingBody;
    if (body?.buffer.overflow) return err({ tag: 'internal-error', val: body.buffer.overflow });
    const headers = request.fields.list.flatMap(([k, v]): Array<[string, string]> => (k === 'content-length' ? [] : [[k, dec.decode(v)]]));
    const r = guarded(scope, 'wasi:http/outgoing-handler.handle', () => http.fetch({ method: methodName(request.method_), url, headers, body: body?.buffer.bytes() ?? new Uint8Array(0) }), httpError);
    if (r.tag === 'err') return r;
    const fields = new Fields();
    for (const [k, v] of r.val.headers) if (!FORBIDDEN_HEADERS.has(k.toLowerCase())) fields.list.push([k.toLowerCase(), enc.encode(v)]);
    return ok(new IncomingResponse(r.val.status, fields, r.val.body));
  };

  return {
    'wasi:http/outgoing-handler': {
      handle: (request: OutgoingRequest, _options: RequestOptions | undefined): Result<FutureIncomingResponse, ErrorCode> =>
        ok(new FutureIncomingResponse(() => send(request), () => request.outgoingBody === undefined || request.outgoingBody.finished, scope.frame)),
    },
  };
}
