/** A nats store's defaults: apart from the store, so that reading a manifest never loads the NATS client. */
export const NATS_STORE_DEFAULTS = Object.freeze({
  replicas: 1,
  timeoutMs: 5000,
  /** Reads and conditional writes one increment (or delete) tries before it gives up with CONFLICT. */
  casAttempts: 32,
});
