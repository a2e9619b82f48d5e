/**
 * Traces for inbound requests (docs/observability.md#traces). The ingress begins a trace per
 * request: a valid inbound `traceparent` is continued (its sampled flag honoured by the
 * parent-based samplers), otherwise a new trace starts, and the sampler chosen by
 * OTEL_TRACES_SAMPLER decides. The worker records its spans for a sampled request and sends them
 * back with the answer (telemetry/trace/request-spans.ts); `end` adds the server span and hands
 * them all to `onTrace` (the dashboard's store) and, with an OTLP endpoint, to the export queue.
 *
 * Off (neither an OTLP endpoint nor an admin listener, or OTEL_SDK_DISABLED=true) there is no
 * Tracing at all: the ingress skips every step and the SDK is never loaded.
 */
import { readFileSync } from 'node:fs';
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from './logging.js';
import type { SpanRecord, TraceContext } from '../dispatch/protocol.js';
import { epochMs, newSpanId, newTraceId, parseTraceparent, type ParentContext } from './trace/context.js';
import type { SamplerConfig, TraceConfig } from './trace/config.js';
import type { DropReason, SpanShape } from './trace/export.js';

export { samplerConfigFromEnv, traceConfigFromEnv, type SamplerConfig, type TraceConfig } from './trace/config.js';
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

/** The OTLP side: the SDK's exporter behind a bounded queue, and the `tracing on` line naming the endpoint. */
async function startExport(config: TraceConfig, opts: TracingOptions): Promise<{ add(spans: readonly SpanShape[]): void; shutdown(ms: number): Promise<void> }> {
  const sdk = await import('./trace/export.js');
  const version = (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
  const resource = sdk.createResource(version);
  const scope = { name: 'verge', version };
  let lastLogged = -Infinity;
  let droppedSinceLog = 0;
  const queue = new sdk.SpanQueue(sdk.createExporter(config), config.batch, {
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
    add(spans) {
      for (const s of spans) queue.add(sdk.readableSpan(s, resource, scope));
    },
    shutdown: (ms) => queue.flush(ms),
  };
}

/**
 * Loads the sampler, and with an export config (an OTLP endpoint) the SDK's exporter too; a
 * sampler alone records traces for `onTrace` only (the dashboard's) and loads no exporter.
 * Undefined config (tracing off) loads nothing.
 */
export async function createTracing(config: SamplerConfig | TraceConfig | undefined, opts: TracingOptions): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const { createSampler, shouldSample } = await import('./trace/sampler.js');
  const sampler = createSampler(config.sampler, config.ratio);
  const exporter = 'url' in config ? await startExport(config, opts) : undefined;
  if (!exporter) opts.logger.info({ sampler: config.sampler, ratio: config.ratio }, 'tracing on for the dashboard; no OTLP endpoint, so nothing is exported');

  return {
    begin(traceparent, tracestate) {
      const parent = parseTraceparent(traceparent);
      const traceId = parent?.traceId ?? newTraceId();
      const sampled = shouldSample(sampler, traceId, parent);
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
      exporter?.add(shapes);
    },

    shutdown: (ms) => exporter?.shutdown(ms) ?? Promise.resolve(),
  };
}

/** The endpoint without user info or query, which could hold a credential. */
function safeEndpoint(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
