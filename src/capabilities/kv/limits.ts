/** Named limits for guest input to the KV capability; the refusal states the limit. */
export const KV_LIMITS = {
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
  maxKeysPerPage: 1000,
  /** kv_open handles per request: each call makes a new one, so a guest looping on it would grow without end. */
  maxStoreHandles: 1024,
} as const;
