/**
 * Traces for inbound requests (docs/observability.md#traces). The ingress begins a trace per
 * request: a valid inbound `traceparent` is continued (its sampled flag honoured by the
 * parent-based samplers), otherwise a new trace starts, and the sampler chosen by
 * OTEL_TRACES_SAMPLER decides. The worker records its spans for a sampled request and sends them
 * back with the answer as one string (telemetry/trace/request-spans.ts, encoded-spans.ts); `end`
 * puts the server span in front and hands that string to `onTrace` (the dashboard's store) and,
 * with an OTLP endpoint, to the export thread (trace/export-thread.ts), which decodes it and runs
 * the exporter away from the thread every request crosses.
 *
 * Off (neither an OTLP endpoint nor an admin listener, or OTEL_SDK_DISABLED=true) there is no
 * Tracing at all: the ingress skips every step and the SDK is never loaded.
 */
import type { Attributes } from '@opentelemetry/api';
import type { Logger } from './logging.js';
import type { EncodedSpans, TraceContext } from '../dispatch/protocol.js';
import { epochMs, newSpanId, newTraceId, parseTraceparent, type ParentContext } from './trace/context.js';
import type { SamplerConfig, TraceConfig } from './trace/config.js';
import type { SpanShape } from './trace/export.js';
import { safeEndpoint, type OtlpExport } from './trace/export-client.js';
import { prependSpan } from './trace/encoded-spans.js';

export { samplerConfigFromEnv, traceConfigFromEnv, type SamplerConfig, type TraceConfig } from './trace/config.js';
export type { SpanShape } from './trace/export.js';
export type { EncodedSpans } from './trace/encoded-spans.js';

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
  end(trace: RequestTrace, server: ServerSpan, workerSpans: EncodedSpans | undefined): void;
}

export interface TracingOptions {
  logger: Logger;
  /** Where sampled spans go: the export thread's client, started with this trace config (shared with log export). */
  export?: OtlpExport | undefined;
  /**
   * Every sampled request's spans as they go to the export queue, server span first (for a
   * dashboard's waterfall), encoded: decode them when they are looked at. Called on the request
   * path: keep it cheap.
   */
  onTrace?: (requestId: string, spans: EncodedSpans) => void;
}

/**
 * Loads the sampler. With an export config (an OTLP endpoint) sampled spans go to the export
 * thread too; a sampler alone records traces for `onTrace` only (the dashboard's).
 * Undefined config (tracing off) loads nothing.
 */
export async function createTracing(config: SamplerConfig | TraceConfig | undefined, opts: TracingOptions): Promise<Tracing | undefined> {
  if (!config) return undefined;
  const { createSampler, shouldSample } = await import('./trace/sampler.js');
  const sampler = createSampler(config.sampler, config.ratio);
  const spans = 'url' in config ? opts.export?.spans : undefined;
  if ('url' in config) opts.logger.info({ endpoint: safeEndpoint(config.url), protocol: config.protocol, sampler: config.sampler, ratio: config.ratio }, 'tracing on');
  else opts.logger.info({ sampler: config.sampler, ratio: config.ratio }, 'tracing on for the dashboard; no OTLP endpoint, so nothing is exported');

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
      const serverSpan: SpanShape = {
        traceId: context.traceId,
        id: context.serverSpanId,
        parent: trace.parent && { id: trace.parent.spanId, remote: true },
        name: server.name,
        kind: 'server',
        start: trace.start,
        end: epochMs(),
        attributes: server.attributes,
        error: server.error,
        events: undefined,
      };
      const all = prependSpan(serverSpan, workerSpans);
      const requestId = server.attributes['verge.request_id'];
      if (opts.onTrace && typeof requestId === 'string') opts.onTrace(requestId, all);
      spans?.push(all);
    },
  };
}
