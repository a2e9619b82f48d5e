/** Sinks for what a guest writes: a capped stdout buffer reused across requests, and a stderr line splitter. */
import { VergeError } from '../errors.js';
import type { OutputSink } from './wagi/wasi-p1.js';
import { GUEST_LOG_LIMITS } from '../capabilities/logging/levels.js';

const INITIAL_BYTES = 64 * 1024;
/** A buffer that grew past this is dropped after its request, so one big response does not pin memory. */
const KEEP_BYTES = 1024 * 1024;

export class CappedBuffer implements OutputSink {
  private buf = new Uint8Array(INITIAL_BYTES);
  length = 0;
  cap = 0;

  reset(cap: number): void {
    if (this.buf.length > KEEP_BYTES) this.buf = new Uint8Array(INITIAL_BYTES);
    this.length = 0;
    this.cap = cap;
  }

  write(bytes: Uint8Array): void {
    const needed = this.length + bytes.length;
    if (needed > this.cap) {
      throw new VergeError('RESPONSE_TOO_LARGE', `the guest wrote more than ${this.cap} bytes to stdout (max_response_bytes plus the header block)`);
    }
    if (needed > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.cap));
      grown.set(this.buf.subarray(0, this.length));
      this.buf = grown;
    }
    this.buf.set(bytes, this.length);
    this.length = needed;
  }

  /** What was written, as a view over the internal buffer (valid until the next reset). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/**
 * The guest's log budget (GUEST_LOG_LIMITS) applies to stderr lines too; LineSink counts against
 * the same numbers so a guest printing millions of lines stops costing work once past them.
 */
export const STDERR_LIMITS = { maxLines: GUEST_LOG_LIMITS.maxRecords, maxLineBytes: GUEST_LOG_LIMITS.maxRecordBytes } as const;

/** Splits stderr into lines and forwards each to `emit`, up to a per-request budget. */
export class LineSink implements OutputSink {
  private pending = '';
  private lines = 0;
  private truncated = false;
  // Streaming, so a character split across two writes is decoded whole.
  private decoder = new TextDecoder();
  constructor(private readonly emit: (line: string) => void) {}

  reset(): void {
    this.decoder = new TextDecoder();
    this.pending = '';
    this.lines = 0;
    this.truncated = false;
  }

  write(bytes: Uint8Array): void {
    if (this.truncated) return;
    this.pending += this.decoder.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) !== -1) {
      this.line(this.pending.slice(0, nl));
      this.pending = this.pending.slice(nl + 1);
      if (this.truncated) return;
    }
    if (this.pending.length > STDERR_LIMITS.maxLineBytes) {
      this.line(this.pending);
      this.pending = '';
    }
  }

  flush(): void {
    this.pending += this.decoder.decode();
    if (this.pending.length > 0 && !this.truncated) this.line(this.pending);
    this.pending = '';
  }

  private line(text: string): void {
    if (this.lines >= STDERR_LIMITS.maxLines) {
      this.truncated = true;
      this.emit(`[verge: stderr truncated after ${STDERR_LIMITS.maxLines} lines]`);
      return;
    }
    this.lines++;
    this.emit(text.length > STDERR_LIMITS.maxLineBytes ? text.slice(0, STDERR_LIMITS.maxLineBytes) + '…' : text.replace(/\r$/, ''));
  }
}
