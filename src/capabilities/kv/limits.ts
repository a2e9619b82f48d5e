/** Named limits for the KV capability; a refusal states the limit. */
export const KV_LIMITS = {
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
  maxKeysPerPage: 1000,
  /** A store on the main thread that answers no sooner is a TIMEOUT for the guest, not a hung worker. */
  hostCallTimeoutMs: 5000,
} as const;
