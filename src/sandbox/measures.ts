/**
 * What a worker measures of every request it runs (RunMeasures in dispatch/protocol.ts): when it
 * claimed the request, how long the instance that served it took to make, the guest's linear
 * memory at the end, and how long each host call completed in the worker took. One per worker,
 * reused by every request: recording a host call writes two numbers into a typed array, and the
 * whole goes back with the answer.
 */
import type { FromWorker, RunMeasures } from '../dispatch/protocol.js';

/**
 * Host calls one answer carries at most. A request that makes more sends each full batch ahead
 * in a message of its own: the worker keeps a bounded buffer however many calls a guest makes.
 */
export const HOST_CALLS_PER_BATCH = 4096;

const INITIAL_CALLS = 32;

export class RequestMeasures {
  private id = '';
  private claimedAt = 0;
  private instantiateMs = -1;
  private prepared = false;
  private memoryBytes = -1;
  /** code, seconds, code, seconds, ... */
  private calls = new Float64Array(INITIAL_CALLS * 2);
  private used = 0;

  constructor(private readonly post: (msg: FromWorker) => void) {}

  /** The worker claimed request `id`: what was measured before is dropped. */
  start(id: string, claimedAt: number): void {
    this.id = id;
    this.claimedAt = claimedAt;
    this.instantiateMs = -1;
    this.prepared = false;
    this.memoryBytes = -1;
    this.used = 0;
  }

  /** An instance was made for the request: on its path, or ahead of it (`prepared`). */
  instantiated(ms: number, prepared: boolean): void {
    this.instantiateMs = ms;
    this.prepared = prepared;
  }

  /** The guest's linear memory when the request ended, in bytes. */
  memory(bytes: number): void {
    this.memoryBytes = bytes;
  }

  /** A host call the worker completed: its code (telemetry/host-call-codes.ts) and duration. */
  hostCall(code: number, seconds: number): void {
    if (this.used === this.calls.length) this.makeRoom();
    this.calls[this.used] = code;
    this.calls[this.used + 1] = seconds;
    this.used += 2;
  }

  /** What goes back with the answer; the host calls are handed over (the next request starts with none). */
  take(): RunMeasures {
    const m: RunMeasures = { claimedAt: this.claimedAt, instantiateMs: this.instantiateMs, prepared: this.prepared, memoryBytes: this.memoryBytes };
    if (this.used > 0) m.hostCalls = this.calls.slice(0, this.used);
    this.used = 0;
    return m;
  }

  private makeRoom(): void {
    if (this.calls.length < HOST_CALLS_PER_BATCH * 2) {
      const bigger = new Float64Array(Math.min(this.calls.length * 2, HOST_CALLS_PER_BATCH * 2));
      bigger.set(this.calls);
      this.calls = bigger;
      return;
    }
    this.post({ t: 'host-calls', id: this.id, calls: this.calls.slice() });
    this.used = 0;
  }
}
