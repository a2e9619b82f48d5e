/**
 * Tracing configured by the standard OpenTelemetry variables only, read once at start: traces
 * are exported when an OTLP endpoint is set (and the SDK is not disabled), recorded for the
 * dashboard with the same sampler when the admin listener is on (node/start.ts), and every value is
 * checked here, so a typo fails the start with the variable's name instead of tracing nothing.
 * Plain data: the SDK's sampler is loaded only when tracing is on (sampler.ts), its exporter only
 * when an endpoint is set (export.ts).
 */
import { VergeError } from '../../errors.js';

export const SAMPLERS = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'] as const;
export type SamplerName = (typeof SAMPLERS)[number];
export const PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export interface BatchConfig {
  /** Spans waiting for export; one more is dropped (and counted). */
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMs: number;
  exportTimeoutMs: number;
}

/** Which requests are traced: what a node needs to record traces, with or without export. */
export interface SamplerConfig {
  sampler: SamplerName;
  /** For the ratio samplers: the share of new traces kept. */
  ratio: number;
}

export interface TraceConfig extends SamplerConfig {
  /** Where spans are posted: the traces endpoint as given, or the base endpoint + v1/traces. */
  url: string;
  protocol: Protocol;
  batch: BatchConfig;
}

/** The SDK's defaults (OpenTelemetry specification, "Batching processor"). */
export const BATCH_DEFAULTS: BatchConfig = Object.freeze({ maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 5000, exportTimeoutMs: 30000 });

const invalid = (name: string, value: string, expected: string) =>
  new VergeError('TELEMETRY_CONFIG_INVALID', `${name}=${JSON.stringify(value.slice(0, 100))}: expected ${expected}`);

type Variables = (name: string) => string | undefined;

/** The variables as read here: trimmed, and an empty one counts as unset. */
function variables(env: NodeJS.ProcessEnv): Variables {
  return (name) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
}

const disabled = (get: Variables): boolean => get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true';

/** The trace export settings, or undefined when nothing is exported (no endpoint, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). */
export function traceConfigFromEnv(env: NodeJS.ProcessEnv): TraceConfig | undefined {
  const get = variables(env);
  if (disabled(get)) return undefined;
  const exporter = get('OTEL_TRACES_EXPORTER');
  if (exporter === 'none') return undefined;
  if (exporter !== undefined && exporter !== 'otlp') throw invalid('OTEL_TRACES_EXPORTER', exporter, '"otlp" or "none"');
  const url = endpoint(get('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'), get('OTEL_EXPORTER_OTLP_ENDPOINT'));
  if (url === undefined) return undefined;

  const protocolName = get('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = get(protocolName) ?? 'http/protobuf';
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw invalid(protocolName, protocol, `one of ${PROTOCOLS.join(', ')} (gRPC is not supported)`);

  const { sampler, ratio } = samplerFrom(get);

  const positive = (name: string, fallback: number): number => {
    const v = get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw invalid(name, v, 'a positive integer');
    return n;
  };
  const batch: BatchConfig = {
    maxQueueSize: positive('OTEL_BSP_MAX_QUEUE_SIZE', BATCH_DEFAULTS.maxQueueSize),
    maxExportBatchSize: positive('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', BATCH_DEFAULTS.maxExportBatchSize),
    scheduledDelayMs: positive('OTEL_BSP_SCHEDULE_DELAY', BATCH_DEFAULTS.scheduledDelayMs),
    exportTimeoutMs: positive('OTEL_BSP_EXPORT_TIMEOUT', BATCH_DEFAULTS.exportTimeoutMs),
  };
  // As the SDK does: a batch never holds more than the queue.
  batch.maxExportBatchSize = Math.min(batch.maxExportBatchSize, batch.maxQueueSize);
  return { url, protocol: protocol as Protocol, sampler, ratio, batch };
}

/**
 * The sampler alone, for a node that records traces without exporting them (the dashboard's, with
 * no OTLP endpoint); undefined when OTEL_SDK_DISABLED=true turns all tracing off.
 */
export function samplerConfigFromEnv(env: NodeJS.ProcessEnv): SamplerConfig | undefined {
  const get = variables(env);
  return disabled(get) ? undefined : samplerFrom(get);
}

function samplerFrom(get: Variables): SamplerConfig {
  const sampler = get('OTEL_TRACES_SAMPLER') ?? 'parentbased_always_on';
  if (!(SAMPLERS as readonly string[]).includes(sampler)) throw invalid('OTEL_TRACES_SAMPLER', sampler, `one of ${SAMPLERS.join(', ')}`);
  const arg = get('OTEL_TRACES_SAMPLER_ARG');
  let ratio = 1;
  if (arg !== undefined && sampler.endsWith('traceidratio')) {
    ratio = Number(arg);
    if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) throw invalid('OTEL_TRACES_SAMPLER_ARG', arg, 'a number from 0 to 1');
  }
  return { sampler: sampler as SamplerName, ratio };
}

function endpoint(traces: string | undefined, base: string | undefined): string | undefined {
  const name = traces !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const raw = traces ?? base;
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(name, raw, 'an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(name, raw, 'an http:// or https:// URL');
  // The signal-specific endpoint is used as is; the base one gets the signal's path (the spec's rule).
  if (traces !== undefined) return url.href;
  return url.href.endsWith('/') ? `${url.href}v1/traces` : `${url.href}/v1/traces`;
}
