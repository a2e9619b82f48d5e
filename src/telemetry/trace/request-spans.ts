/**
 * The spans one sampled request makes inside its worker: queue wait, instantiation, the guest's
 * execution, and a span per host call under it. They are plain records, kept until the request is
 * answered and sent back with the answer as one string (no message per span, no object graph to
 * clone: encoded-spans.ts); the main thread adds the server span (tracing.ts).
 */
import type { EncodedSpans, SpanRecord, TraceContext } from '../../dispatch/protocol.js';
import { epochMs, newSpanId } from './context.js';
import { encodeRecords } from './encoded-spans.js';

export type Attributes = SpanRecord['attributes'];

/** Guest log records kept as events on the execution span; the log budget bounds them too. */
const MAX_EVENTS = 128;
/**
 * Spans one request may make: a guest looping over host calls would otherwise grow its answer,
 * and the main thread's work, without bound. Past it, host calls are not recorded (an outbound
 * call then names the execute span in its traceparent) and the execute span counts them in
 * `verge.dropped_spans`.
 */
export const MAX_SPANS = 512;

export class RequestSpans {
  readonly records: SpanRecord[] = [];
  private dropped = 0;
  /** The guest's execution span, once started: host calls and log events hang under it. */
  private guest: SpanRecord | undefined;

  constructor(readonly context: TraceContext) {}

  /** The time from admission to the worker taking the request, which ends now. */
  queued(): void {
    this.records.push({ id: newSpanId(), parent: this.context.serverSpanId, name: 'queue wait', kind: 'internal', start: this.context.admittedAt, end: epochMs(), attributes: {} });
  }

  /** A span under the server span (instantiation) or under the guest's (a host call, by default). */
  start(name: string, attributes: Attributes = {}, kind: SpanRecord['kind'] = 'internal', parent: string = this.guest?.id ?? this.context.serverSpanId): SpanRecord | undefined {
    if (this.records.length >= MAX_SPANS) {
      this.dropped++;
      return undefined;
    }
    const span: SpanRecord = { id: newSpanId(), parent, name, kind, start: epochMs(), end: 0, attributes };
    this.records.push(span);
    return span;
  }

  /** The execution span: its id is the one the main thread gave the guest as its parent. */
  startGuest(attributes: Attributes = {}): SpanRecord {
    const span: SpanRecord = { id: this.context.spanId, parent: this.context.serverSpanId, name: 'execute', kind: 'internal', start: epochMs(), end: 0, attributes };
    this.records.push(span);
    this.guest = span;
    return span;
  }

  end(span: SpanRecord, error?: string): void {
    span.end = epochMs();
    if (error !== undefined) span.error = error;
  }

  /** A guest log record, as an event on the execution span. */
  log(level: string, stream: string, message: string): void {
    const span = this.guest;
    if (!span || span.end !== 0) return;
    const events = (span.events ??= []);
    if (events.length >= MAX_EVENTS) return;
    events.push({ name: 'log', time: epochMs(), attributes: { 'log.severity': level, 'log.stream': stream, 'log.message': message } });
  }

  /** What goes back with the answer: every span ended (one left open by a trap ends now, failed). */
  finish(): SpanRecord[] {
    for (const s of this.records) if (s.end === 0) this.end(s, 'ended with the request');
    if (this.dropped > 0 && this.guest) this.guest.attributes['verge.dropped_spans'] = this.dropped;
    return this.records;
  }

  /** finish(), as one string for the answer message. */
  encode(): EncodedSpans {
    return encodeRecords(this.context.traceId, this.finish());
  }
}
