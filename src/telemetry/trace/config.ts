/**
 * Trace and log export configured by the standard OpenTelemetry variables only, read once at
 * start: a signal is on when an OTLP endpoint is set for it (and the SDK is not disabled), and
 * every value is checked here, so a typo fails the start with the variable's name instead of tracing nothing.
 * Traces are also recorded, with the same sampler, for the dashboard when the admin listener is on
 * (node/start.ts). Plain data: the sampler is loaded only when tracing is on (sampler.ts), the
 * exporters only in the export thread (export-thread.ts).
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

/** The batch log record processor's defaults (OpenTelemetry specification, "Batching processor"). */
export const LOG_BATCH_DEFAULTS: BatchConfig = Object.freeze({ maxQueueSize: 2048, maxExportBatchSize: 512, scheduledDelayMs: 1000, exportTimeoutMs: 30000 });

export interface LogsConfig {
  /** Where log records are posted: the logs endpoint as given, or the base endpoint + v1/logs. */
  url: string;
  protocol: Protocol;
  batch: BatchConfig;
}

type Env = (name: string) => string | undefined;

function reader(env: NodeJS.ProcessEnv): Env {
  return (name) => {
    const v = env[name]?.trim();
    return v ? v : undefined;
  };
}

/**
 * What every signal reads alike: whether its exporter is on, its endpoint and its protocol.
 * Undefined when the signal is off (OTEL_SDK_DISABLED=true, OTEL_<SIGNAL>_EXPORTER=none, or no endpoint).
 */
function otlpTarget(get: Env, signal: 'TRACES' | 'LOGS'): { url: string; protocol: Protocol } | undefined {
  if (get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const exporterName = `OTEL_${signal}_EXPORTER`;
  const exporter = get(exporterName);
  if (exporter === 'none') return undefined;
  if (exporter !== undefined && exporter !== 'otlp') throw invalid(exporterName, exporter, '"otlp" or "none"');
  const url = endpoint(signal, get(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`), get('OTEL_EXPORTER_OTLP_ENDPOINT'));
  if (url === undefined) return undefined;
  const protocolName = get(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`) !== undefined ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL` : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = get(protocolName) ?? 'http/protobuf';
  if (!(PROTOCOLS as readonly string[]).includes(protocol)) throw invalid(protocolName, protocol, `one of ${PROTOCOLS.join(', ')} (gRPC is not supported)`);
  return { url, protocol: protocol as Protocol };
}

/** A batch processor's settings from OTEL_BSP_* (spans) or OTEL_BLRP_* (log records). */
function batchConfig(get: Env, prefix: 'OTEL_BSP' | 'OTEL_BLRP', defaults: BatchConfig): BatchConfig {
  const positive = (name: string, fallback: number): number => {
    const v = get(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw invalid(name, v, 'a positive integer');
    return n;
  };
  const batch: BatchConfig = {
    maxQueueSize: positive(`${prefix}_MAX_QUEUE_SIZE`, defaults.maxQueueSize),
    maxExportBatchSize: positive(`${prefix}_MAX_EXPORT_BATCH_SIZE`, defaults.maxExportBatchSize),
    scheduledDelayMs: positive(`${prefix}_SCHEDULE_DELAY`, defaults.scheduledDelayMs),
    exportTimeoutMs: positive(`${prefix}_EXPORT_TIMEOUT`, defaults.exportTimeoutMs),
  };
  // As the SDK does: a batch never holds more than the queue.
  batch.maxExportBatchSize = Math.min(batch.maxExportBatchSize, batch.maxQueueSize);
  return batch;
}

/** The trace export settings, or undefined when nothing is exported (no endpoint, OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none). */
export function traceConfigFromEnv(env: NodeJS.ProcessEnv): TraceConfig | undefined {
  const get = reader(env);
  const target = otlpTarget(get, 'TRACES');
  if (target === undefined) return undefined;
  return { ...target, ...samplerFrom(get), batch: batchConfig(get, 'OTEL_BSP', BATCH_DEFAULTS) };
}

/**
 * The sampler alone, for a node that records traces without exporting them (the dashboard's, with
 * no OTLP endpoint); undefined when OTEL_SDK_DISABLED=true turns all tracing off.
 */
export function samplerConfigFromEnv(env: NodeJS.ProcessEnv): SamplerConfig | undefined {
  const get = reader(env);
  return get('OTEL_SDK_DISABLED')?.toLowerCase() === 'true' ? undefined : samplerFrom(get);
}

function samplerFrom(get: Env): SamplerConfig {
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

/** The guest log export settings, or undefined when it is off (no endpoint, OTEL_SDK_DISABLED=true or OTEL_LOGS_EXPORTER=none). */
export function logsConfigFromEnv(env: NodeJS.ProcessEnv): LogsConfig | undefined {
  const get = reader(env);
  const target = otlpTarget(get, 'LOGS');
  return target && { ...target, batch: batchConfig(get, 'OTEL_BLRP', LOG_BATCH_DEFAULTS) };
}

function endpoint(signal: 'TRACES' | 'LOGS', own: string | undefined, base: string | undefined): string | undefined {
  const name = own !== undefined ? `OTEL_EXPORTER_OTLP_${signal}_ENDPOINT` : 'OTEL_EXPORTER_OTLP_ENDPOINT';
  const raw = own ?? base;
  if (raw === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid(name, raw, 'an http:// or https:// URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(name, raw, 'an http:// or https:// URL');
  // The signal-specific endpoint is used as is; the base one gets the signal's path (the spec's rule).
  if (own !== undefined) return url.href;
  const path = `v1/${signal.toLowerCase()}`;
  return url.href.endsWith('/') ? `${url.href}${path}` : `${url.href}/${path}`;
}
