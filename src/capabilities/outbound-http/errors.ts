/**
 * Errors of the outbound HTTP capability. The codes are the ABI's (docs/abi.md, "Error codes"),
 * one to one: the worker-side binding turns `err.code` into the negative number with
 * `OUTBOUND_ABI_CODES[err.code]` and logs `err.message` (which names the URL or host and the rule).
 */
import { HostCallError } from '../abi.js';

export type OutboundErrorCode = 'ACCESS_DENIED' | 'INVALID_ARGUMENT' | 'LIMIT_EXCEEDED' | 'TIMEOUT' | 'NETWORK';

/** The `verge:v1` result code for each error (docs/abi.md). */
export const OUTBOUND_ABI_CODES: Readonly<Record<OutboundErrorCode, number>> = Object.freeze({
  ACCESS_DENIED: -2,
  INVALID_ARGUMENT: -3,
  LIMIT_EXCEEDED: -4,
  TIMEOUT: -7,
  NETWORK: -8,
});

/** An outbound call's refusal or failure, in the guest-facing error family: its code is the status the guest gets. */
export class OutboundError extends HostCallError {
  constructor(code: OutboundErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'OutboundError';
  }

  get code(): OutboundErrorCode {
    return this.status as OutboundErrorCode;
  }
}

export function isOutboundError(err: unknown, code?: OutboundErrorCode): err is OutboundError {
  return err instanceof OutboundError && (code === undefined || err.code === code);
}
