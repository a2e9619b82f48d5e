/** How a worker answers the pool: a response (transferred when large) or a failure with its code. */
import type { EncodedSpans, FromWorker, GuestResponse } from '../dispatch/protocol.js';
import type { RequestMeasures } from './measures.js';
import { ProcExit } from './wagi/wasi-p1.js';
import { ComponentExit } from './component/imports.js';
import { isVergeError, type ErrorCode, type GuestFailureDetail } from '../errors.js';

/** Below this a response body is cheaper to clone than to transfer. */
const TRANSFER_MIN_BYTES = 16 * 1024;

export type Post = (msg: FromWorker, transfer?: ArrayBuffer[]) => void;

export interface Failure extends GuestFailureDetail {
  code: ErrorCode;
  message: string;
}

export function classify(err: unknown): Failure {
  if (isVergeError(err)) return { code: err.code, message: err.message };
  if (err instanceof ProcExit) return { code: 'GUEST_EXIT', message: `the guest exited with code ${err.code}` };
  if (err instanceof ComponentExit) return { code: 'GUEST_EXIT', message: `${err.message} before setting a response` };
  if (err instanceof WebAssembly.RuntimeError) return { code: 'GUEST_TRAP', message: `the guest trapped: ${err.message}` };
  if (err instanceof RangeError && /call stack/i.test(err.message)) {
    return { code: 'GUEST_TRAP', message: 'the guest trapped: call stack exhausted (unbounded recursion?)' };
  }
  if (err instanceof WebAssembly.LinkError) return { code: 'INTERNAL', message: `could not link the guest: ${err.message}` };
  return { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err) };
}

/** spans: the request's, when it is sampled; measures: what the worker measured of it (both travel with the answer, not apart). */
export function postResponse(post: Post, id: string, response: GuestResponse, settling: boolean, spans: EncodedSpans | undefined, measures: RequestMeasures): void {
  const body = response.body;
  const transfer = body.length >= TRANSFER_MIN_BYTES && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? [body.buffer as ArrayBuffer] : undefined;
  const { claimedAt, instantiateMs, prepared, memoryBytes } = measures;
  const msg: Extract<FromWorker, { t: 'done' }> = { t: 'done', id, response, claimedAt, instantiateMs, prepared, memoryBytes };
  if (settling) msg.settling = true;
  if (spans) msg.spans = spans;
  measures.handOver(msg);
  post(msg, transfer);
}

/** A failed request's answer, with its spans when sampled and what the worker measured of it. */
export function postFailure(post: Post, id: string, failure: Failure, settling: true | undefined, spans: EncodedSpans | undefined, measures: RequestMeasures): void {
  const { claimedAt, instantiateMs, prepared, memoryBytes } = measures;
  const msg: Extract<FromWorker, { t: 'fail' }> = { t: 'fail', id, code: failure.code, message: failure.message, claimedAt, instantiateMs, prepared, memoryBytes };
  if (settling) msg.settling = settling;
  if (spans) msg.spans = spans;
  if (failure.panic !== undefined) msg.panic = failure.panic;
  if (failure.backtrace) msg.backtrace = failure.backtrace;
  measures.handOver(msg);
  post(msg);
}
