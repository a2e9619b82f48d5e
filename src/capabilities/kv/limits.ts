/** Named limits for the KV capability; a refusal states the limit. */
export const KV_LIMITS = {
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
  maxKeysPerPage: 1000,
  /** kv_open handles per request: each call makes a new one, so a guest looping on it would grow without end. */
  maxStoreHandles: 1024,
  /** A store on the main thread that answers no sooner is a TIMEOUT for the guest, not a hung worker. */
  hostCallTimeoutMs: 5000,
} as const;
