/**
 * A node's heartbeat record in the cluster's node bucket, and the expiry rule readers apply to it.
 *
 * Debian's nats-server 2.9 has no per-key TTL, so expiry is ours (docs/cluster.md):
 * - a record is live while its last write is at most GONE_AFTER_HEARTBEATS heartbeats old, then gone;
 * - a node deletes its own record when it stops cleanly;
 * - any live node purges a record older than PRUNE_AFTER_MS (and only that revision of it, so a
 *   node that comes back in between keeps its fresh record).
 * The age is measured from the server's timestamp of the write (one clock for every record), not
 * from what the writing node's clock said.
 */

export const CLUSTER_DEFAULTS = Object.freeze({
  bucket: 'verge_cluster_nodes',
  replicas: 1,
  heartbeatMs: 2000,
});

/** A record with no heartbeat for this many intervals is gone. */
export const GONE_AFTER_HEARTBEATS = 3;
/** A gone record stays listed this long (so an operator sees what went away), then a live node purges it. */
export const PRUNE_AFTER_MS = 60 * 60 * 1000;

/** Node ids are bucket keys: NATS-safe tokens. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface ServedVersion {
  id: string;
  weight: number;
}

/** Where a node stands with the cluster's deployment of one app (deploy-record.ts). */
export interface AppDeployState {
  /** The cluster's deployment id this is about. */
  deployment: string;
  state: 'serving' | 'pending' | 'refused';
  /** Why it is refused (a catalogue code and the message), or what failed last while pending. */
  code?: string;
  message?: string;
}

/** What a node writes about itself, as JSON. */
export interface NodeRecord {
  id: string;
  region: string | null;
  admin_url: string | null;
  url: string;
  verge_version: string;
  started_at: string;
  /** The node's own clock at the write; readers judge age by the server's timestamp instead. */
  last_seen: string;
  heartbeat_ms: number;
  /** App name → the versions of its active deployment, with their weights. */
  serves: Record<string, ServedVersion[]>;
  /** App → where this node stands with the cluster's deployment of it (absent from nodes before deploy replication). */
  deploys?: Record<string, AppDeployState>;
  /** How far behind the cluster's deployments this node is, or how long the last one took to arrive; null before any. */
  replication_lag_ms?: number | null;
}

export type Liveness = 'live' | 'gone';

export interface NodeView extends NodeRecord {
  /** Milliseconds since the server stored the last heartbeat. */
  age_ms: number;
  state: Liveness;
  replication_lag_ms: number | null;
}

/** How old a record of a node beating every `heartbeatMs` may be and still be live. */
export function goneAfterMs(heartbeatMs: number): number {
  return heartbeatMs * GONE_AFTER_HEARTBEATS;
}

export function liveness(ageMs: number, heartbeatMs: number): Liveness {
  return ageMs <= goneAfterMs(heartbeatMs) ? 'live' : 'gone';
}

export function shouldPrune(ageMs: number, pruneAfterMs = PRUNE_AFTER_MS): boolean {
  return ageMs > pruneAfterMs;
}

/** The record read back with its age; undefined for bytes that are not a record (another writer's, an older shape). */
export function viewOf(bytes: Uint8Array, storedAt: Date, now: number): NodeView | undefined {
  let record: Partial<NodeRecord>;
  try {
    record = JSON.parse(new TextDecoder().decode(bytes)) as Partial<NodeRecord>;
  } catch {
    return undefined;
  }
  if (typeof record.id !== 'string' || typeof record.heartbeat_ms !== 'number' || typeof record.url !== 'string') return undefined;
  const age = Math.max(0, now - storedAt.getTime());
  const lag = typeof record.replication_lag_ms === 'number' ? record.replication_lag_ms : null;
  return { ...(record as NodeRecord), serves: record.serves ?? {}, deploys: record.deploys ?? {}, age_ms: age, state: liveness(age, record.heartbeat_ms), replication_lag_ms: lag };
}
