/**
 * W3C Trace Context (https://www.w3.org/TR/trace-context/) as Verge needs it on both threads:
 * reading an inbound `traceparent`, writing one, and making ids. Ids come from a pool of random
 * bytes refilled in blocks, so a traced request costs no syscall per id.
 */
import { randomFillSync } from 'node:crypto';

export interface ParentContext {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The parent named by a `traceparent` header, or undefined when it is absent or invalid (then the
 * request starts a new trace, as the spec says). Version ff is invalid; a higher version than 00 is
 * read as 00 when its first fields fit, and only then may carry more fields.
 */
export function parseTraceparent(header: string | string[] | undefined): ParentContext | undefined {
  // Two traceparent headers are as good as none (the spec's rule for a repeated header).
  if (header === undefined || Array.isArray(header)) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

const POOL_BYTES = 4096;
const pool = Buffer.alloc(POOL_BYTES);
let offset = POOL_BYTES;

function randomHex(bytes: number): string {
  for (;;) {
    if (offset + bytes > POOL_BYTES) {
      randomFillSync(pool);
      offset = 0;
    }
    const hex = pool.toString('hex', offset, offset + bytes);
    offset += bytes;
    // An all-zero id is invalid; 2^-64 at worst, but cheap to rule out.
    if (hex !== ZERO_SPAN && hex !== ZERO_TRACE) return hex;
  }
}

export const newTraceId = (): string => randomHex(16);
export const newSpanId = (): string => randomHex(8);

/** Wall-clock milliseconds with sub-millisecond precision, comparable across threads. */
export const epochMs = (): number => performance.timeOrigin + performance.now();
