/** The PostgreSQL capability's named limits; refusals state them. A named database may override the per-database ones in verge.toml. */

const MiB = 1024 * 1024;

/** Per database: `[databases.NAME]` keys override them; a postgres:// address a guest names gets these. */
export interface PgDatabaseLimits {
  /** Rows in one result; a query returning more fails with LIMIT_EXCEEDED. */
  readonly maxRows: number;
  /** Bytes of row data (PostgreSQL's text form) in one result. */
  readonly maxResultBytes: number;
  /** PostgreSQL's statement_timeout for every statement (the server cancels it: TIMEOUT). */
  readonly statementTimeoutMs: number;
  /** Connections per address, per app: a call waits for a free one within its request's deadline. */
  readonly poolSize: number;
  /** An idle pooled connection is closed after this long. */
  readonly idleTimeoutMs: number;
  /** Establishing one connection (TCP, TLS, authentication). */
  readonly connectTimeoutMs: number;
}

export const DEFAULT_DATABASE_LIMITS: PgDatabaseLimits = Object.freeze({
  maxRows: 10_000,
  maxResultBytes: 16 * MiB,
  statementTimeoutMs: 10_000,
  poolSize: 10,
  idleTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
});

/** What the manifest accepts for each override: [min, max, unit]. */
export const DATABASE_LIMIT_RANGES = {
  max_rows: [1, 1_000_000, 'rows per result'],
  max_result_bytes: [1, 256 * MiB, 'bytes per result'],
  statement_timeout_ms: [1, 3_600_000, 'milliseconds'],
  pool_size: [1, 100, 'connections'],
  idle_timeout_ms: [1_000, 3_600_000, 'milliseconds'],
  connect_timeout_ms: [100, 60_000, 'milliseconds'],
} as const;

/** Fixed limits, checked in the worker before anything reaches the main thread. */
export const PG_LIMITS = Object.freeze({
  /** A statement's text. */
  maxStatementBytes: 1 * MiB,
  /** Parameters of one statement (PostgreSQL's own limit is 65535). */
  maxParams: 65_535,
  /** All parameters of one statement together. */
  maxParamBytes: 16 * MiB,
  /** Array nesting in a parameter (PostgreSQL's arrays have at most 6 dimensions). */
  maxArrayDepth: 6,
  /** pg_open handles per request. */
  maxConnections: 64,
  /** Connections of one request inside a transaction at once: each holds a pooled connection. */
  maxTransactions: 4,
  /** Distinct postgres:// addresses (each with its pool) one app's guests may name. */
  maxAddressesPerApp: 64,
  /** A postgres:// address a guest names. */
  maxAddressBytes: 2048,
});
