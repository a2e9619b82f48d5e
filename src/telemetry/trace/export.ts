/**
 * The OpenTelemetry SDK side of trace export, loaded by the export thread (export-thread.ts): the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), the OTLP/HTTP
 * exporter for the chosen protocol, spans as the SDK's ReadableSpan, and a bounded export queue.
 *
 * The queue is ours rather than the SDK's BatchSpanProcessor because every span it cannot keep must
 * be counted in /metrics: a full queue drops the new span (queue_full), a failed or timed-out
 * export drops its batch (export_failed). One export runs at a time, so a slow collector fills the
 * queue and costs spans, never requests: nothing on the request path waits for it.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext } from '@opentelemetry/api';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as ProtobufExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPLogExporter as ProtobufLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { SpanRecord } from '../../dispatch/protocol.js';
import type { BatchConfig, LogsConfig, TraceConfig } from './config.js';
import type { LogLevelName } from '../../capabilities/logging/levels.js';

export type DropReason = 'queue_full' | 'export_failed';

export interface QueueHooks {
  dropped(count: number, reason: DropReason): void;
  /** An export failed or timed out (its spans are already counted as dropped). */
  failed(reason: string): void;
}

/** Verge's name and version, then what the OTEL_* variables say (they win). */
export function createResource(version: string): Resource {
  return defaultResource()
    .merge(resourceFromAttributes({ 'service.name': 'verge', 'service.version': version }))
    .merge(detectResources({ detectors: [envDetector] }));
}

export function createExporter(config: TraceConfig): SpanExporter {
  // Headers, the per-request timeout (OTEL_EXPORTER_OTLP_TIMEOUT), compression and certificates
  // come from the OTEL_EXPORTER_OTLP_* variables, read by the exporter; the queue bounds a whole export.
  const options = { url: config.url };
  return config.protocol === 'http/json' ? new JsonExporter(options) : new ProtobufExporter(options);
}

export function createLogExporter(config: LogsConfig): ItemExporter<ReadableLogRecord> {
  const options = { url: config.url };
  return config.protocol === 'http/json' ? new JsonLogExporter(options) : new ProtobufLogExporter(options);
}

/** A guest's log record as the main thread hands it over: plain data, cheap to clone. */
export interface LogShape {
  time: number;
  level: LogLevelName;
  body: string;
  attributes: Attributes;
  /** The request's trace and the span the guest ran in, when the request was sampled. */
  traceId: string | undefined;
  spanId: string | undefined;
}

const SEVERITY: Record<LogShape['level'], SeverityNumber> = {
  trace: SeverityNumber.TRACE,
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

/** A log record as the SDK's exporters read it, tied to its span when the request was traced. */
export function readableLogRecord(r: LogShape, resource: Resource, scope: { name: string; version: string }): ReadableLogRecord {
  const time = hrTime(r.time);
  return {
    hrTime: time,
    hrTimeObserved: time,
    spanContext: r.traceId !== undefined && r.spanId !== undefined ? { traceId: r.traceId, spanId: r.spanId, traceFlags: TraceFlags.SAMPLED } : undefined,
    severityText: r.level.toUpperCase(),
    severityNumber: SEVERITY[r.level],
    body: r.body,
    resource,
    instrumentationScope: scope,
    attributes: r.attributes,
    droppedAttributesCount: 0,
  };
}

export function hrTime(epochMs: number): HrTime {
  let seconds = Math.floor(epochMs / 1000);
  let nanos = Math.round((epochMs - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

export interface SpanShape {
  traceId: string;
  id: string;
  /** The parent span id, and whether it came from another process (the inbound traceparent). */
  parent: { id: string; remote: boolean } | undefined;
  name: string;
  kind: 'server' | 'client' | 'internal';
  start: number;
  end: number;
  attributes: Attributes;
  error: string | undefined;
  events: SpanRecord['events'];
}

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;

/** A finished span as the SDK's exporters read it. */
export function readableSpan(s: SpanShape, resource: Resource, scope: { name: string; version: string }): ReadableSpan {
  const context: SpanContext = { traceId: s.traceId, spanId: s.id, traceFlags: TraceFlags.SAMPLED, isRemote: false };
  const startTime = hrTime(s.start);
  const endTime = hrTime(Math.max(s.end, s.start));
  const durationNs = Math.max(0, Math.round((s.end - s.start) * 1e6));
  return {
    name: s.name,
    kind: KINDS[s.kind],
    spanContext: () => context,
    parentSpanContext: s.parent && { traceId: s.traceId, spanId: s.parent.id, traceFlags: TraceFlags.SAMPLED, isRemote: s.parent.remote },
    startTime,
    endTime,
    status: s.error === undefined ? { code: SpanStatusCode.UNSET } : { code: SpanStatusCode.ERROR, message: s.error },
    attributes: s.attributes,
    links: [],
    events: (s.events ?? []).map((e) => ({ name: e.name, time: hrTime(e.time), attributes: e.attributes })),
    duration: [Math.floor(durationNs / 1e9), durationNs % 1e9],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** What the SDK's span and log record exporters have in common. */
export interface ItemExporter<T> {
  export(items: T[], resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

export class ExportQueue<T> {
  private queue: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private exporting: Promise<void> | undefined;
  /** Set by flush: from then on it drives the exports itself. */
  private closing = false;

  constructor(
    private readonly exporter: ItemExporter<T>,
    private readonly batch: BatchConfig,
    private readonly hooks: QueueHooks,
  ) {}

  add(item: T): void {
    if (this.queue.length >= this.batch.maxQueueSize) {
      this.hooks.dropped(1, 'queue_full');
      return;
    }
    this.queue.push(item);
    this.schedule();
  }

  get length(): number {
    return this.queue.length;
  }

  /** Items the queue can take now: past this, add() only counts a drop (so a caller can skip building them). */
  get room(): number {
    return this.batch.maxQueueSize - this.queue.length;
  }

  /** Counts items dropped before they were built, because the queue had no room. */
  refuse(count: number): void {
    if (count > 0) this.hooks.dropped(count, 'queue_full');
  }

  /** Exports what is queued, for at most `ms` (at shutdown); what is left then is dropped. */
  async flush(ms: number): Promise<void> {
    this.closing = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    // One timer, kept referenced: a stopping node waits for it even with nothing else left to do.
    let expired = false;
    let wake: () => void = () => undefined;
    const deadline = new Promise<void>((r) => (wake = r));
    const timer = setTimeout(() => {
      expired = true;
      wake();
    }, ms);
    try {
      while (!expired && (this.exporting || this.queue.length > 0)) {
        await Promise.race([this.exporting ?? this.exportBatch(), deadline]);
      }
      if (this.queue.length > 0) this.hooks.dropped(this.queue.splice(0).length, 'export_failed');
      if (!expired) await Promise.race([this.exporter.shutdown().catch(() => undefined), deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A full batch goes now; fewer spans wait for the schedule delay. One export at a time. */
  private schedule(): void {
    if (this.exporting || this.closing) return;
    if (this.queue.length >= this.batch.maxExportBatchSize) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.exportBatch();
      return;
    }
    if (this.timer || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.exportBatch();
    }, this.batch.scheduledDelayMs);
    this.timer.unref();
  }

  private exportBatch(): Promise<void> {
    const spans = this.queue.splice(0, this.batch.maxExportBatchSize);
    if (spans.length === 0) return Promise.resolve();
    const run = new Promise<void>((resolve) => {
      let settled = false;
      const settle = (error: string | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timeout);
        if (error !== undefined) {
          this.hooks.dropped(spans.length, 'export_failed');
          this.hooks.failed(error);
        }
        resolve();
      };
      const timeout = setTimeout(() => settle(`no answer within ${this.batch.exportTimeoutMs} ms (OTEL_BSP_EXPORT_TIMEOUT)`), this.batch.exportTimeoutMs);
      timeout.unref();
      try {
        this.exporter.export(spans, (result) => settle(result.code === ExportResultCode.SUCCESS ? undefined : (result.error?.message ?? 'the export failed')));
      } catch (err) {
        settle(err instanceof Error ? err.message : String(err));
      }
    });
    this.exporting = run.finally(() => {
      this.exporting = undefined;
      this.schedule();
    });
    return this.exporting;
  }
}
