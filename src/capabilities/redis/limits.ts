/** Named limits for the Redis capability; a refusal states the limit. */
const MiB = 1024 * 1024;

export const REDIS_LIMITS = {
  /** One reply, all its values together: a larger one is refused as it arrives (LIMIT_EXCEEDED). */
  maxReplyBytes: 10 * MiB,
  /** One command as sent: its name and arguments. */
  maxCommandBytes: 10 * MiB,
  /** Arguments of one command. */
  maxArguments: 100_000,
  /** A connection name or address as the guest gives it. */
  maxTargetBytes: 2048,
  /** redis_open / Connection.open per request. */
  maxConnectionsPerRequest: 64,
  /** Pooled connections per Redis address (a named connection may set its own `max_connections`). */
  poolSize: 16,
  /** A pooled connection unused this long is closed. */
  idleTimeoutMs: 30_000,
} as const;
