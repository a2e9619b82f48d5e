/**
 * The replication state of every replicated store open in this process, for `/metrics` and the
 * dashboard: read when they ask, never pushed. Loaded without SQLite or NATS.
 */
export interface ReplicationStatus {
  app: string;
  store: string;
  /** This replica's id: the tie-breaker of its writes' stamps. */
  replica: string;
  stream: string;
  /** True while the link's NATS connection is up. */
  connected: boolean;
  last_error: string | null;
  /** Changes made here that JetStream has not acknowledged yet. */
  queued_changes: number;
  /** Age of the oldest of them (0 with none): how far the other nodes are behind this one. */
  lag_ms: number;
  /** Stream messages not applied here yet, as of the last one read: how far this node is behind. */
  inbound_pending: number;
  applied_sequence: number;
  /** Stream messages read since the store opened: a node back from offline reads only what it missed. */
  received: number;
}

const open = new Set<{ replication(): ReplicationStatus }>();

/** Lists `store` until the returned function is called (when it closes). */
export function trackReplication(store: { replication(): ReplicationStatus }): () => void {
  open.add(store);
  return () => void open.delete(store);
}

export function replicationStatuses(): ReplicationStatus[] {
  return [...open].map((s) => s.replication());
}
