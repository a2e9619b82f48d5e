/**
 * The verge:v1 import module (docs/abi.md): its name and its status codes. The functions are
 * each capability's (capabilities/index.ts lists them).
 */
export const VERGE_ABI_MODULE = 'verge:v1';

export const Status = {
  OK: 0,
  NOT_FOUND: -1,
  ACCESS_DENIED: -2,
  INVALID_ARGUMENT: -3,
  LIMIT_EXCEEDED: -4,
  UNAVAILABLE: -5,
  CONFLICT: -6,
  TIMEOUT: -7,
  NETWORK: -8,
  NOT_A_NUMBER: -9,
} as const;
export type StatusName = keyof typeof Status;

/**
 * The guest-facing error family: a refusal or failure a host call reports to the guest as a
 * status code, with a sentence for the log. Backends (StoreError) and capabilities
 * (OutboundError) throw members of it; everything Verge answers to clients and operators is a
 * VergeError (src/errors.ts) instead.
 */
export class HostCallError extends Error {
  constructor(
    readonly status: StatusName,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HostCallError';
  }
}
