/**
 * wasi:io for components, as jco's glue expects host resources: plain classes whose methods
 * return `{tag, val}` results. Everything a request reads is already in memory (the ingress
 * buffers the body, outbound responses arrive whole), so streams never block and every pollable
 * is ready, except clock pollables, which sleep the worker thread (the request deadline still
 * holds: the pool terminates the worker).
 */
import { VergeError } from '../../errors.js';

export type Result<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };
export const ok = <T>(val: T): Result<T, never> => ({ tag: 'ok', val });
export const err = <E>(val: E): Result<never, E> => ({ tag: 'err', val });

export type StreamError = { tag: 'closed' } | { tag: 'last-operation-failed'; val: IoError };

export class IoError {
  constructor(private readonly message: string) {}
  toDebugString(): string {
    return this.message;
  }
}

/**
 * Ready at once; or, a clock pollable, once process.hrtime.bigint() reaches `deadlineNs`; or
 * when `isReady` says so (an outbound response waits for its request body to be finished).
 */
export class Pollable {
  constructor(
    readonly deadlineNs: bigint | undefined = undefined,
    private readonly isReady: (() => boolean) | undefined = undefined,
  ) {}
  ready(): boolean {
    if (this.isReady) return this.isReady();
    return this.deadlineNs === undefined || process.hrtime.bigint() >= this.deadlineNs;
  }
  block(): void {
    if (this.deadlineNs !== undefined) sleepUntil(this.deadlineNs);
  }
}

export function poll(list: Pollable[]): Uint32Array {
  if (list.length === 0) throw new VergeError('GUEST_TRAP', 'wasi:io/poll.poll was called with an empty list');
  const readyOnes = () => list.flatMap((p, i) => (p.ready() ? [i] : []));
  let ready = readyOnes();
  if (ready.length === 0) {
    const clocks = list.flatMap((p) => (p.deadlineNs === undefined ? [] : [p.deadlineNs]));
    if (clocks.length > 0) {
      sleepUntil(clocks.reduce((min, d) => (d < min ? d : min)));
      ready = readyOnes();
    }
    // Nothing else can change while the guest waits (the host is synchronous): what it waits
    // for is as ready as it will get.
    if (ready.length === 0) ready = list.map((_, i) => i);
  }
  return Uint32Array.from(ready);
}

const sleepCell = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the worker thread until process.hrtime.bigint() reaches `deadlineNs`. */
export function sleepUntil(deadlineNs: bigint): void {
  for (;;) {
    const ms = Number(deadlineNs - process.hrtime.bigint()) / 1e6;
    if (ms <= 0) return;
    Atomics.wait(sleepCell, 0, 0, ms);
  }
}

/** A stream over bytes already in memory. */
export class InputStream {
  private offset = 0;
  constructor(private readonly bytes: Uint8Array) {}

  read(len: bigint): Result<Uint8Array, StreamError> {
    if (this.offset >= this.bytes.length) return err({ tag: 'closed' });
    const n = Math.min(Number(len), this.bytes.length - this.offset);
    const chunk = this.bytes.slice(this.offset, this.offset + n);
    this.offset += n;
    return ok(chunk);
  }
  blockingRead(len: bigint): Result<Uint8Array, StreamError> {
    return this.read(len);
  }
  skip(len: bigint): Result<bigint, StreamError> {
    const r = this.read(len);
    return r.tag === 'ok' ? ok(BigInt(r.val.length)) : r;
  }
  blockingSkip(len: bigint): Result<bigint, StreamError> {
    return this.skip(len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}

/** Where an output stream's bytes go; `write` returns an error sentence to refuse them. */
export interface ByteSink {
  write(bytes: Uint8Array): string | undefined;
}

/** How much a guest may hand over per write; a guest asks with check-write first. */
const WRITE_BUDGET = 1024n * 1024n;

export class OutputStream {
  private closed = false;
  constructor(private readonly sink: ByteSink) {}

  checkWrite(): Result<bigint, StreamError> {
    return this.closed ? err({ tag: 'closed' }) : ok(WRITE_BUDGET);
  }
  write(contents: Uint8Array): Result<void, StreamError> {
    if (this.closed) return err({ tag: 'closed' });
    const refusal = this.sink.write(contents);
    if (refusal !== undefined) {
      this.closed = true;
      return err({ tag: 'last-operation-failed', val: new IoError(refusal) });
    }
    return ok(undefined);
  }
  blockingWriteAndFlush(contents: Uint8Array): Result<void, StreamError> {
    return this.write(contents);
  }
  flush(): Result<void, StreamError> {
    return this.closed ? err({ tag: 'closed' }) : ok(undefined);
  }
  blockingFlush(): Result<void, StreamError> {
    return this.flush();
  }
  writeZeroes(len: bigint): Result<void, StreamError> {
    return this.write(new Uint8Array(Number(len)));
  }
  blockingWriteZeroesAndFlush(len: bigint): Result<void, StreamError> {
    return this.writeZeroes(len);
  }
  splice(src: InputStream, len: bigint): Result<bigint, StreamError> {
    const r = src.read(len);
    if (r.tag === 'err') return r;
    const w = this.write(r.val);
    return w.tag === 'err' ? w : ok(BigInt(r.val.length));
  }
  blockingSplice(src: InputStream, len: bigint): Result<bigint, StreamError> {
    return this.splice(src, len);
  }
  subscribe(): Pollable {
    return new Pollable();
  }
}
