/** A chained call's failure as its caller sees it: the response a client would have got for the error. */
import { ERROR_CATALOGUE, type ErrorCode } from '../errors.js';
import type { OutboundResponseSpec } from './protocol.js';

export function chainedErrorResponse(code: ErrorCode, message: string, requestId: string): OutboundResponseSpec {
  const body = new TextEncoder().encode(JSON.stringify({ error: code, message, request_id: requestId }));
  const status = ERROR_CATALOGUE[code].status || 500;
  return { status, headers: [['content-type', 'application/json'], ['x-request-id', requestId]], body };
}
