/** The admin API's answers, as far as the dashboard reads them (docs/observability.md, docs/deploy.md). */

export interface Rate {
  requests: number;
  rate_per_second: number;
  errors_5xx: number;
  error_rate: number;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface Stats {
  at: string;
  window_seconds: number;
  pool: { workers: number; busy: number; queued: number; restarts: number };
  memory: { rss: number; heap_used: number; heap_total: number; external: number; array_buffers: number };
  totals: Rate;
  routes: Array<Rate & { app: string; route: string; component: string; version: string }>;
}

export interface NodeInfo {
  url: string;
  workers: number;
  apps: string[];
}

export interface DeploymentJson {
  versions: Array<{ id: string; weight: number }>;
  sticky?: { kind: string; name?: string };
  auto_rollback?: false | { min_requests: number; max_error_rate_increase: number; max_p99_ratio: number; window_seconds: number };
  seq?: number;
  at?: string;
  by?: string;
  reason?: string;
}

export interface AppSummary {
  name: string;
  source: 'upload' | 'path';
  deployment: DeploymentJson | null;
}

export interface AppStatus {
  app: string;
  deployment: DeploymentJson;
  versions: Array<{ id: string; weight: number; inflight: number; requests: number; errors_5xx: number; error_rate: number; p50_ms: number | null; p99_ms: number | null }>;
  auto_rollbacks: Array<{ at: string; version: string; reason: string }>;
}

export interface StoredVersion {
  id: string;
  created: string;
  size: number;
  signers: string[];
  files: number;
  live: boolean;
  weight: number;
}

export interface AppRoutes {
  app: string;
  versions: Array<{
    id: string;
    short_id: string;
    weight: number;
    installed_at: string;
    inflight: number;
    routes: Array<{ path: string; component: string }>;
    components: Array<{
      name: string;
      kind: 'wagi' | 'component';
      bytes: number;
      key_value_stores: string[];
      allowed_outbound_hosts: string[];
      variables: string[];
      limits: { memory_mib: number; timeout_ms: number; max_request_bytes: number; max_response_bytes: number };
    }>;
  }>;
}

export interface RequestRecord {
  id: string;
  at: string;
  method: string;
  path: string;
  route: string;
  app: string | null;
  component: string | null;
  version: string | null;
  status: number;
  duration_ms: number;
  error: string | null;
}

export interface Stores {
  app: string;
  writable: boolean;
  stores: Array<{ name: string; backend: string; replication: Replication | null }>;
}

export interface KeyPage {
  store: string;
  prefix: string;
  keys: string[];
  next: string | null;
}

export interface ValueView {
  store: string;
  key: string;
  size: number;
  kind: 'json' | 'text' | 'binary';
  text?: string;
  hex: string;
  truncated: boolean;
}

export type AttributeValue = string | number | boolean | Array<string | number | boolean | null> | null;

/** GET /v1/requests/ID/trace: the spans in waterfall order, times in ms from the server span's start. */
export interface TraceJson {
  request_id: string;
  trace_id: string;
  start: string;
  duration_ms: number;
  dropped_spans: number;
  spans: SpanJson[];
}

export interface SpanJson {
  id: string;
  parent_id: string | null;
  depth: number;
  name: string;
  kind: 'server' | 'client' | 'internal';
  start_ms: number;
  duration_ms: number;
  error: string | null;
  attributes: Record<string, AttributeValue>;
  events: Array<{ name: string; at_ms: number; attributes: Record<string, AttributeValue> }>;
}

/** One record of GET /v1/logs: level, time, msg, seq and the fields the line was logged with. */
export interface LogRecordJson {
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  time: string;
  msg: string;
  seq: number;
  request_id?: string;
  app?: string;
  component?: string;
  [field: string]: unknown;
}

/** A replicated store's link to the cluster (src/backends/replicated/status.ts). */
export interface Replication {
  connected: boolean;
  last_error: string | null;
  queued_changes: number;
  lag_ms: number;
  inbound_pending: number;
}
