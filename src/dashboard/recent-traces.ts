/**
 * The traces of the last sampled requests, for the dashboard's waterfall (GET
 * /v1/requests/ID/trace), kept by request id. Memory stays bounded whatever the guests do:
 *
 * - at most `capacity` traces, the oldest going first (500, as many as the recent requests);
 * - at most `maxSpans` spans a trace are shown: a guest making 10,000 host calls shows its first
 *   spans and the count of the others;
 * - about `maxBytes` over all traces, by their encoded length (a guest's log lines, as events, are
 *   the big part): past it the oldest traces go.
 *
 * Adding stores the spans as the tracer encoded them, one string a trace (no copy, and nothing for
 * the garbage collector to walk or promote object by object); they are decoded, and the answer's
 * shape built, when someone asks (`find`, `traceJson`).
 */
import { decodeSpans, type EncodedSpans } from '../telemetry/trace/encoded-spans.js';
import type { SpanShape } from '../telemetry/tracing.js';

export interface TraceLimits {
  capacity: number;
  maxSpans: number;
  maxBytes: number;
}

export const RECENT_TRACES_DEFAULTS: Readonly<TraceLimits> = Object.freeze({
  capacity: 500,
  maxSpans: 256,
  maxBytes: 32 * 1024 * 1024,
});

export interface KeptTrace {
  readonly requestId: string;
  /** The server span first (as the tracer hands them over), at most `maxSpans`. */
  readonly spans: readonly SpanShape[];
  /** Spans past `maxSpans`, not shown. */
  readonly droppedSpans: number;
  /** The estimate this trace counts for against `maxBytes`. */
  readonly bytes: number;
}

/** What a kept trace holds beside its string (the entry, the map's slot). */
const TRACE_BYTES = 128;

interface Kept {
  readonly spans: EncodedSpans;
  readonly bytes: number;
}

export class RecentTraces {
  readonly limits: Readonly<TraceLimits>;
  /** In the order they were added: the first is the oldest. */
  private readonly traces = new Map<string, Kept>();
  /** The request ids of the last traces pushed out, so that "no longer kept" can be told from "never recorded". */
  private readonly evicted = new Set<string>();
  private bytes = 0;

  constructor(limits: Partial<TraceLimits> = {}) {
    this.limits = { ...RECENT_TRACES_DEFAULTS, ...limits };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`recent traces: ${name} must be a whole number of at least 1, got ${value}`);
    }
  }

  /** Called on the request path (Tracing's onTrace): a map insert. */
  add(requestId: string, spans: EncodedSpans): void {
    // At most two bytes a character (V8 keeps ASCII JSON in one).
    const trace: Kept = { spans, bytes: TRACE_BYTES + 2 * spans.json.length };
    this.remove(requestId);
    this.evicted.delete(requestId);
    this.traces.set(requestId, trace);
    this.bytes += trace.bytes;
    // The newest trace always stays, even alone over the byte budget: the limits above keep one trace far below it.
    while (this.traces.size > this.limits.capacity || (this.bytes > this.limits.maxBytes && this.traces.size > 1)) {
      const oldest = this.traces.keys().next().value!;
      this.remove(oldest);
      this.evicted.add(oldest);
      if (this.evicted.size > this.limits.capacity) this.evicted.delete(this.evicted.values().next().value!);
    }
  }

  find(requestId: string): KeptTrace | undefined {
    const kept = this.traces.get(requestId);
    if (!kept) return undefined;
    const spans = decodeSpans(kept.spans);
    const shown = spans.length > this.limits.maxSpans ? spans.slice(0, this.limits.maxSpans) : spans;
    return { requestId, spans: shown, droppedSpans: spans.length - shown.length, bytes: kept.bytes };
  }

  /** Whether this request's trace was kept and has been pushed out since (among the last `capacity` pushed out). */
  wasEvicted(requestId: string): boolean {
    return this.evicted.has(requestId);
  }

  get size(): number {
    return this.traces.size;
  }

  /** The estimate of what the kept traces hold, in bytes. */
  get estimatedBytes(): number {
    return this.bytes;
  }

  private remove(requestId: string): void {
    const old = this.traces.get(requestId);
    if (!old) return;
    this.traces.delete(requestId);
    this.bytes -= old.bytes;
  }
}

type AttributeMap = SpanShape['attributes'];

/** One span as the API answers it: times in milliseconds from the start of the request's server span. */
export interface SpanJson {
  id: string;
  parent_id: string | null;
  /** 0 for the server span; a span's children are one deeper and follow it, by start. */
  depth: number;
  name: string;
  kind: SpanShape['kind'];
  start_ms: number;
  duration_ms: number;
  /** The error code or reason when the span failed (its status is error), else null. */
  error: string | null;
  attributes: AttributeMap;
  events: Array<{ name: string; at_ms: number; attributes: AttributeMap }>;
}

export interface TraceJson {
  request_id: string;
  trace_id: string;
  /** When the server span started, and how long it took. */
  start: string;
  duration_ms: number;
  spans: SpanJson[];
  dropped_spans: number;
}

/**
 * The answer of GET /v1/requests/ID/trace: the spans in waterfall order — depth first from the
 * server span, siblings by start — each with its depth and times relative to the server span. A
 * span whose parent is not kept (cut by `maxSpans`) comes after the tree, at depth 0.
 */
export function traceJson(trace: KeptTrace): TraceJson {
  const spans = trace.spans;
  const root = spans.find((s) => s.kind === 'server') ?? spans[0];
  const origin = root?.start ?? 0;
  const ids = new Set(spans.map((s) => s.id));
  const children = new Map<string, SpanShape[]>();
  const tops: SpanShape[] = [];
  for (const s of spans) {
    const parent = s.parent && !s.parent.remote && s.parent.id !== s.id && ids.has(s.parent.id) ? s.parent.id : undefined;
    if (parent === undefined) tops.push(s);
    else if (children.has(parent)) children.get(parent)!.push(s);
    else children.set(parent, [s]);
  }
  const byStart = (a: SpanShape, b: SpanShape) => a.start - b.start;
  // The server span leads; what lost its parent follows, by start.
  tops.sort((a, b) => (a === root ? -1 : b === root ? 1 : byStart(a, b)));
  const out: SpanJson[] = [];
  const seen = new Set<string>();
  const visit = (s: SpanShape, depth: number) => {
    if (seen.has(s.id)) return;
    seen.add(s.id);
    out.push(spanJson(s, depth, origin));
    for (const c of (children.get(s.id) ?? []).sort(byStart)) visit(c, depth + 1);
  };
  for (const s of tops) visit(s, 0);
  // Spans in a cycle of parents (never made by Verge) still show, flat.
  for (const s of spans) visit(s, 0);
  return {
    request_id: trace.requestId,
    trace_id: root?.traceId ?? '',
    start: new Date(origin).toISOString(),
    duration_ms: root ? round(root.end - root.start) : 0,
    spans: out,
    dropped_spans: trace.droppedSpans,
  };
}

function spanJson(s: SpanShape, depth: number, origin: number): SpanJson {
  return {
    id: s.id,
    parent_id: s.parent?.id ?? null,
    depth,
    name: s.name,
    kind: s.kind,
    start_ms: round(s.start - origin),
    duration_ms: round(Math.max(0, s.end - s.start)),
    error: s.error ?? null,
    attributes: s.attributes,
    events: (s.events ?? []).map((e) => ({ name: e.name, at_ms: round(e.time - origin), attributes: e.attributes })),
  };
}

/** Microseconds are as fine as threads' clocks agree. */
const round = (ms: number): number => Math.round(ms * 1000) / 1000;
