/**
 * The sampler the OTEL_TRACES_SAMPLER variables name, and the one decision it makes per request.
 * Apart from the exporter (export.ts): a node that records traces only for its dashboard loads
 * this and no exporter.
 */
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import { AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, SamplingDecision, TraceIdRatioBasedSampler, type Sampler } from '@opentelemetry/sdk-trace';
import type { SamplerName } from './config.js';
import type { ParentContext } from './context.js';

export function createSampler(name: SamplerName, ratio: number): Sampler {
  const root = name.endsWith('always_off') ? new AlwaysOffSampler() : name.endsWith('traceidratio') ? new TraceIdRatioBasedSampler(ratio) : new AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

/** Asks the sampler whether a request with this (possibly absent) remote parent is recorded. */
export function shouldSample(sampler: Sampler, traceId: string, parent: ParentContext | undefined): boolean {
  const context = parent
    ? trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: parent.spanId, traceFlags: parent.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true })
    : ROOT_CONTEXT;
  return sampler.shouldSample(context, traceId, 'request', SpanKind.SERVER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
}
