/**
 * A request's spans as they cross threads: one JSON string of SpanShape[] and its count, not an
 * object graph. Structured clone copies a string in one go, where a span with its attributes and
 * events is a dozen objects to walk on the sending thread and rebuild on the receiving one; and
 * the main thread, which every request crosses, only joins strings: the worker encodes its spans,
 * the main thread puts the server span in front, and the same string goes to the dashboard's ring
 * (decoded when someone opens the trace) and to the export thread (decoded there).
 *
 * The JSON comes from JSON.stringify on our side of every thread, so joining two of them is safe
 * whatever a guest wrote into an attribute or a log event.
 */
import type { EncodedSpans, SpanRecord } from '../../dispatch/protocol.js';
import type { SpanShape } from './export.js';

export type { EncodedSpans } from '../../dispatch/protocol.js';

export function encodeSpans(spans: readonly SpanShape[]): EncodedSpans {
  return { json: JSON.stringify(spans), count: spans.length };
}

/** A worker's records as shapes of the request's trace; their parents are all in this process. */
export function encodeRecords(traceId: string, records: readonly SpanRecord[]): EncodedSpans {
  const shapes: SpanShape[] = records.map((r) => ({
    traceId,
    id: r.id,
    parent: { id: r.parent, remote: false },
    name: r.name,
    kind: r.kind,
    start: r.start,
    end: r.end,
    attributes: r.attributes,
    error: r.error,
    events: r.events,
  }));
  return encodeSpans(shapes);
}

/** `first`, then the spans of `rest` (the server span, then what its worker recorded). */
export function prependSpan(first: SpanShape, rest: EncodedSpans | undefined): EncodedSpans {
  const head = JSON.stringify(first);
  if (!rest || rest.count === 0) return { json: `[${head}]`, count: 1 };
  return { json: `[${head},${rest.json.slice(1)}`, count: rest.count + 1 };
}

/** Undefined fields were left out by JSON: the shapes read them as absent, which they treat alike. */
export function decodeSpans(spans: EncodedSpans): SpanShape[] {
  return JSON.parse(spans.json) as SpanShape[];
}
