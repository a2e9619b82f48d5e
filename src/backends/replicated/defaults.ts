/** A replicated store's defaults: apart from the store, so that reading a manifest loads neither SQLite nor NATS. */
export const REPLICATED_STORE_DEFAULTS = Object.freeze({
  replicas: 1,
  timeoutMs: 5000,
  /** Seven days: longer than any expected outage of an edge site (docs/cluster.md, tombstones). */
  tombstoneRetentionS: 7 * 24 * 3600,
});
