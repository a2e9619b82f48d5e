/**
 * Per-version request stats over a sliding window (the last 60 s by default), for `status` and
 * for auto-rollback: requests, 5xx responses, and the p50 and p99 latency.
 *
 * The window is a ring of time buckets (60 of 1 s by default); the current bucket and the ones
 * before it make the window, so it spans between 59 and 60 s. Each bucket keeps its latencies in a
 * fixed log-scale histogram rather than as samples, so memory does not grow with traffic (about
 * 45 KiB per version) and a record is a few array writes. A running total of the live buckets is
 * kept, and a bucket leaving the window is subtracted from it, so a snapshot costs one pass over
 * the histogram whatever the traffic.
 *
 * Quantiles are reported as the geometric middle of the histogram bin holding the sample of that
 * rank, so for latencies from 0.01 ms to 10 min they are within 5 % of the exact sample quantile
 * (bins grow by 10 %: half a bin is a factor of √1.1 ≈ 1.0488). Below 0.01 ms they read 0.01 ms;
 * from 10 min up they read 10 min.
 */
export interface Snapshot {
  /** Requests answered in the window. */
  readonly requests: number;
  /** Of which answered with a status from 500 to 599. */
  readonly errors5xx: number;
  /** errors5xx / requests; 0 without requests. */
  readonly errorRate: number;
  /** null without requests. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export const LATENCY_HISTOGRAM = {
  minMs: 0.01,
  maxMs: 600_000,
  /** Each bin's upper bound over its lower bound. */
  growth: 1.1,
} as const;

const LOG_GROWTH = Math.log(LATENCY_HISTOGRAM.growth);
/** Bins between minMs and maxMs; bin 0 holds everything under minMs and the last bin everything from maxMs up. */
const SPAN_BINS = Math.ceil(Math.log(LATENCY_HISTOGRAM.maxMs / LATENCY_HISTOGRAM.minMs) / LOG_GROWTH);
const BINS = SPAN_BINS + 2;

export function binOf(latencyMs: number): number {
  if (!(latencyMs >= LATENCY_HISTOGRAM.minMs)) return 0; // NaN and negatives too: a clock hiccup is not a slow request
  if (latencyMs >= LATENCY_HISTOGRAM.maxMs) return BINS - 1;
  return Math.min(Math.floor(Math.log(latencyMs / LATENCY_HISTOGRAM.minMs) / LOG_GROWTH) + 1, SPAN_BINS);
}

/** The value a bin reports: its geometric middle, or the histogram's bound for the two open bins. */
export function binValue(bin: number): number {
  if (bin === 0) return LATENCY_HISTOGRAM.minMs;
  if (bin >= BINS - 1) return LATENCY_HISTOGRAM.maxMs;
  return LATENCY_HISTOGRAM.minMs * Math.exp((bin - 0.5) * LOG_GROWTH);
}

export interface WindowOptions {
  /** The window's length; default 60,000 ms. */
  windowMs?: number;
  /** How many buckets it is cut into; default 60. More buckets slide more smoothly and cost more memory. */
  buckets?: number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
}

export class SlidingWindow {
  readonly windowMs: number;
  private readonly bucketMs: number;
  private readonly buckets: number;
  private readonly now: () => number;
  /** Bucket b's histogram is bins [b * BINS, (b + 1) * BINS). */
  private readonly histograms: Uint32Array;
  private readonly requests: Uint32Array;
  private readonly errors: Uint32Array;
  private readonly totalHistogram = new Float64Array(BINS);
  private totalRequests = 0;
  private totalErrors = 0;
  /** The time bucket (now / bucketMs, floored) that the current ring slot holds. */
  private head: number;

  constructor(opts: WindowOptions = {}) {
    this.windowMs = opts.windowMs ?? 60_000;
    this.buckets = opts.buckets ?? 60;
    if (!Number.isInteger(this.buckets) || this.buckets < 1 || this.buckets > 3600) throw new RangeError(`sliding window: expected 1 to 3600 buckets, got ${this.buckets}`);
    if (!(this.windowMs >= this.buckets)) throw new RangeError(`sliding window: expected a window of at least 1 ms per bucket, got ${this.windowMs} ms for ${this.buckets} buckets`);
    this.bucketMs = this.windowMs / this.buckets;
    this.now = opts.now ?? performance.now.bind(performance);
    this.histograms = new Uint32Array(this.buckets * BINS);
    this.requests = new Uint32Array(this.buckets);
    this.errors = new Uint32Array(this.buckets);
    this.head = Math.floor(this.now() / this.bucketMs);
  }

  /** Counts one answered request: its HTTP status and its latency in milliseconds. */
  record(status: number, latencyMs: number): void {
    const slot = this.advance();
    const bin = binOf(latencyMs);
    this.histograms[slot * BINS + bin]!++;
    this.totalHistogram[bin]!++;
    this.requests[slot]!++;
    this.totalRequests++;
    if (status >= 500 && status <= 599) {
      this.errors[slot]!++;
      this.totalErrors++;
    }
  }

  snapshot(): Snapshot {
    this.advance();
    const requests = this.totalRequests;
    return {
      requests,
      errors5xx: this.totalErrors,
      errorRate: requests === 0 ? 0 : this.totalErrors / requests,
      p50Ms: this.quantile(0.5),
      p99Ms: this.quantile(0.99),
    };
  }

  /** The q-quantile of the window's latencies (the sample of rank ⌈q·n⌉), or null without requests. */
  quantile(q: number): number | null {
    this.advance();
    if (this.totalRequests === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.totalRequests));
    let seen = 0;
    for (let bin = 0; bin < BINS; bin++) {
      seen += this.totalHistogram[bin]!;
      if (seen >= rank) return binValue(bin);
    }
    return binValue(BINS - 1);
  }

  /** Moves the window to now, dropping the buckets that left it; the ring slot of the current bucket. */
  private advance(): number {
    const current = Math.floor(this.now() / this.bucketMs);
    // A clock that steps back (only an injected one can) counts into the current bucket.
    if (current > this.head) {
      const steps = Math.min(current - this.head, this.buckets);
      for (let s = 1; s <= steps; s++) this.clear(this.slotOf(this.head + s));
      this.head = current;
    }
    return this.slotOf(this.head);
  }

  private slotOf(bucket: number): number {
    const slot = bucket % this.buckets;
    return slot < 0 ? slot + this.buckets : slot; // an injected clock may start below 0
  }

  private clear(slot: number): void {
    if (this.requests[slot] === 0) return;
    const row = slot * BINS;
    for (let bin = 0; bin < BINS; bin++) {
      const n = this.histograms[row + bin]!;
      if (n !== 0) this.totalHistogram[bin]! -= n;
    }
    this.histograms.fill(0, row, row + BINS);
    this.totalRequests -= this.requests[slot]!;
    this.totalErrors -= this.errors[slot]!;
    this.requests[slot] = 0;
    this.errors[slot] = 0;
  }
}
