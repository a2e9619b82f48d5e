/**
 * Traces for inbound requests (docs/observability.md#traces). The ingress begins a trace per
 * request: a valid inbound `traceparent` is continued (its sampled flag honoured by the
 * parent-based samplers), otherwise a new trace starts, and the sampler chosen by
 * OTEL_TRACES_SAMPLER decides. The worker records its spans for a sampled request and sends them
 * back with the answer (telemetry/trace/request-spans.ts); `end` adds the server span and hands
 * them all, as plain shapes, to the export thread (trace/export-thread.ts), which runs the SDK's
 * exporter away from the thread every request crosses.
 *
 * Off (no OTLP endpoint, or OTEL_SDK_DISABLED=true) there is no Tracing at all: the ingress skips
 * every step and the SDK is never loaded.
 */
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from './logging.js';
import type { SpanRecord, TraceContext } from '../dispatch/protocol.js';
import { epochMs, newSpanId, newTraceId, parseTraceparent, type ParentContext } from './trace/context.js';
import type { TraceConfig } from './trace/config.js';
import type { DropReason, QueueHooks, SpanShape } from './trace/export.js';
import type { ExportThreadData, FromExportThread, ToExportThread } from './trace/export-thread.js';

export { traceConfigFromEnv, type TraceConfig } from './trace/config.js';
export type { SpanShape } from './trace/export.js';

/** One inbound request's trace, from the ingress's begin to its end. */
export interface RequestTrace {
  /** What the worker gets (GuestRequest.trace); the ingress sets admittedAt. */
  readonly context: TraceContext;
  readonly parent: ParentContext | undefined;
  readonly start: number;
}

/** The server span's facts, known when the request is answered. */
export interface ServerSpan {
  name: string;
  attributes: Attributes;
  /** An error code when the request failed with a 5xx. */
  error: string | undefined;
}

export interface Tracing {
  begin(traceparent: string | string[] | undefined, tracestate: string | string[] | undefined): RequestTrace;
  /** Exports the request's spans when it is sampled: the server span and what its worker recorded. */
  end(trace: RequestTrace, server: ServerSpan, workerSpans: readonly SpanRecord[] | undefined): void;
  /** Exports what is queued, for at most `ms`. */
  shutdown(ms: number): Promise<void>;
}

export interface TracingOptions {
  logger: Logger;
  /** Spans that will never reach the collector, by why. */
  onDropped?: (count: number, reason: DropReason) => void;
  /**
   * Every sampled request's spans as they go to the export queue, server span first (for a
   * dashboard's waterfall). Called on the request path: keep it cheap.
   */
  onTrace?: (requestId: string, spans: readonly SpanShape[]) => void;
}

/** A collector that stays down is reported this often, not once per failed export. */
export const EXPORT_FAILURE_LOG_MS = 60_000;

const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

/** Loads the SDK and starts the exporter; undefined config (tracing off) loads nothing. */
export async function createTracing(config: TraceConfig | undefined, opts: TracingOptions): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const sdk = await import('./trace/sampler.js');
  const version = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  const sampler = sdk.createSampler(config.sampler, config.ratio);
  let lastLogged = -Infinity;
  let droppedSinceLog = 0;
  const exportThread = new ExportThread({ config, version }, {
    dropped(count, reason) {
      droppedSinceLog += count;
      opts.onDropped?.(count, reason);
    },
    failed(reason) {
      const now = Date.now();
      if (now - lastLogged < EXPORT_FAILURE_LOG_MS) return;
      lastLogged = now;
      opts.logger.warn({ endpoint: safeEndpoint(config.url), reason, dropped_spans: droppedSinceLog }, 'trace export failed; spans are dropped until the collector answers (logged at most once a minute)');
      droppedSinceLog = 0;
    },
  });
  opts.logger.info({ endpoint: safeEndpoint(config.url), protocol: config.protocol, sampler: config.sampler, ratio: config.ratio }, 'tracing on');

  return {
    begin(traceparent, tracestate) {
      const parent = parseTraceparent(traceparent);
      const traceId = parent?.traceId ?? newTraceId();
      const sampled = sdk.shouldSample(sampler, traceId, parent);
      // Unsampled, the request passes its parent on (or a fresh id, flagged unsampled): no span of ours exists.
      const serverSpanId = sampled ? newSpanId() : (parent?.spanId ?? newSpanId());
      const context: TraceContext = {
        traceId,
        serverSpanId,
        spanId: sampled ? newSpanId() : serverSpanId,
        sampled,
        tracestate: parent && typeof tracestate === 'string' ? tracestate : undefined,
        admittedAt: 0,
      };
      return { context, parent, start: epochMs() };
    },

    end(trace, server, workerSpans) {
      const { context } = trace;
      if (!context.sampled) return;
      const traceId = context.traceId;
      const shapes: SpanShape[] = [
        {
          traceId,
          id: context.serverSpanId,
          parent: trace.parent && { id: trace.parent.spanId, remote: true },
          name: server.name,
          kind: 'server',
          start: trace.start,
          end: epochMs(),
          attributes: server.attributes,
          error: server.error,
          events: undefined,
        },
      ];
      for (const s of workerSpans ?? []) {
        shapes.push({ traceId, id: s.id, parent: { id: s.parent, remote: false }, name: s.name, kind: s.kind, start: s.start, end: s.end, attributes: s.attributes, error: s.error, events: s.events });
      }
      const requestId = server.attributes['verge.request_id'];
      if (opts.onTrace && typeof requestId === 'string') opts.onTrace(requestId, shapes);
      exportThread.add(shapes);
    },

    shutdown: (ms) => exportThread.flush(ms),
  };
}

/** The endpoint without user info or query, which could hold a credential. */
function safeEndpoint(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** How often the spans collected on the main thread go to the export thread, at most. */
const POST_EVERY_MS = 50;
/** ...or as soon as this many are waiting. */
const POST_SPANS = 256;

/**
 * The main thread's side of the export thread (trace/export-thread.ts): shapes are collected and
 * posted in batches, so a request costs an array push. What is posted and not yet taken, plus what
 * waits here, is bounded by OTEL_BSP_MAX_QUEUE_SIZE: past it a span is dropped and counted
 * (queue_full), so a stalled export thread can never grow the node's memory.
 */
class ExportThread {
  private readonly worker: Worker;
  private pending: SpanShape[] = [];
  private posted = 0;
  private timer: NodeJS.Timeout | undefined;
  private dead = false;
  private flushed: (() => void) | undefined;

  constructor(
    private readonly data: ExportThreadData,
    private readonly hooks: QueueHooks,
  ) {
    this.worker = new Worker(new URL('./trace/export-thread.js', import.meta.url), { workerData: data, stdout: false, stderr: false });
    // The node's close flushes and stops it; it never keeps the process alive on its own.
    this.worker.unref();
    this.worker.on('message', (m: FromExportThread) => {
      if (m.t === 'taken') this.posted -= m.count;
      else if (m.t === 'dropped') hooks.dropped(m.count, m.reason);
      else if (m.t === 'failed') hooks.failed(m.reason);
      else this.flushed?.();
    });
    this.worker.on('error', (err) => this.died(err.message));
    this.worker.on('exit', (code) => this.died(`the export thread exited with code ${code}`));
  }

  add(shapes: readonly SpanShape[]): void {
    if (this.dead) {
      this.hooks.dropped(shapes.length, 'export_failed');
      return;
    }
    const room = this.data.config.batch.maxQueueSize - this.posted - this.pending.length;
    if (room < shapes.length) {
      if (room > 0) this.pending.push(...shapes.slice(0, room));
      this.hooks.dropped(shapes.length - Math.max(room, 0), 'queue_full');
    } else {
      for (const s of shapes) this.pending.push(s);
    }
    if (this.pending.length >= POST_SPANS) this.post();
    else if (!this.timer && this.pending.length > 0) {
      this.timer = setTimeout(() => this.post(), POST_EVERY_MS);
      this.timer.unref();
    }
  }

  /** Posts what waits, then has the thread export its queue for at most `ms`, then stops it. */
  async flush(ms: number): Promise<void> {
    this.post();
    if (this.dead) return;
    const done = new Promise<void>((r) => (this.flushed = r));
    this.send({ t: 'flush', ms });
    let timer: NodeJS.Timeout | undefined;
    // The thread bounds its own flush by `ms`; this bound is for a thread that cannot answer.
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, ms + 100)))]);
    clearTimeout(timer);
    this.dead = true;
    await this.worker.terminate();
  }

  private post(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.dead) return;
    const spans = this.pending;
    this.pending = [];
    this.posted += spans.length;
    this.send({ t: 'spans', spans });
  }

  private send(m: ToExportThread): void {
    try {
      this.worker.postMessage(m);
    } catch (err) {
      // A span that cannot be cloned (an attribute value a guest made?) costs its batch, never the node.
      if (m.t === 'spans') {
        this.posted -= m.spans.length;
        this.hooks.dropped(m.spans.length, 'export_failed');
        this.hooks.failed(`spans could not be sent to the export thread: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.hooks.failed(reason);
    const lost = this.posted + this.pending.length;
    this.pending = [];
    this.posted = 0;
    if (lost > 0) this.hooks.dropped(lost, 'export_failed');
    this.flushed?.();
  }
}
