/**
 * The last requests the node answered, in a ring buffer of fixed size: the dashboard's "recent
 * requests". Memory stays bounded whatever the traffic; a request is found by its id for as long
 * as it is among the last `capacity`.
 */
import type { AnsweredRequest } from '../ingress/server.js';

export const RECENT_REQUESTS_DEFAULTS = Object.freeze({
  capacity: 500,
  /** A path longer than this is cut: one scanner's 8 KiB URL should not take the buffer's memory. */
  maxPathChars: 512,
});

export interface RecentFilter {
  app?: string | undefined;
  /** Only 5xx answers, or only those below 500. */
  failed?: boolean | undefined;
}

export class RecentRequests {
  readonly capacity: number;
  private readonly ring: Array<AnsweredRequest | undefined>;
  /** Where the next request goes; the oldest is there once the ring has wrapped. */
  private next = 0;
  private count = 0;

  constructor(capacity: number = RECENT_REQUESTS_DEFAULTS.capacity) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`recent requests: expected a capacity of at least 1, got ${capacity}`);
    this.capacity = capacity;
    this.ring = new Array<AnsweredRequest | undefined>(capacity);
  }

  add(request: AnsweredRequest): void {
    const max = RECENT_REQUESTS_DEFAULTS.maxPathChars;
    this.ring[this.next] = request.path.length > max ? { ...request, path: `${request.path.slice(0, max)}…` } : request;
    this.next = (this.next + 1) % this.capacity;
    this.count = Math.min(this.count + 1, this.capacity);
  }

  /** Newest first, at most `limit`, those matching `filter`. */
  list(limit: number, filter: RecentFilter = {}): AnsweredRequest[] {
    const out: AnsweredRequest[] = [];
    for (let i = 1; i <= this.count && out.length < limit; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (filter.app !== undefined && r.app !== filter.app) continue;
      if (filter.failed !== undefined && r.status >= 500 !== filter.failed) continue;
      out.push(r);
    }
    return out;
  }

  /** The request with this id, while it is still in the ring. */
  find(id: string): AnsweredRequest | undefined {
    for (let i = 1; i <= this.count; i++) {
      const r = this.ring[(this.next - i + this.capacity) % this.capacity]!;
      if (r.id === id) return r;
    }
    return undefined;
  }
}
