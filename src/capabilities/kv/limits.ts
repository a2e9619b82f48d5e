/** Named limits for guest input to the KV capability; the refusal states the limit. */
export const KV_LIMITS = {
  maxKeyBytes: 512,
  maxValueBytes: 1024 * 1024,
  maxKeysPerPage: 1000,
} as const;
