// The verge:v1 error codes, and the Result type the SDK returns (AssemblyScript has no
// exceptions).

/** The ABI's error codes (docs/abi.md, "Error codes"). */
export enum ErrorCode {
  /** No such key, variable or handle. */
  NotFound = -1,
  /** The component was not granted this store, host or variable. */
  AccessDenied = -2,
  /** Malformed input: not UTF-8, CR/LF in a header, a bad URL or method, a bad level. */
  InvalidArgument = -3,
  /** Over a named limit (key or value size, outbound requests, response cap). */
  LimitExceeded = -4,
  /** The backend is failing or its circuit breaker is open: answer 503, retry later. */
  Unavailable = -5,
  /** Compare-and-swap: the current value is not the expected one. */
  Conflict = -6,
  /** The upstream or backend did not answer in time. */
  Timeout = -7,
  /** The outbound request failed: DNS, connection, TLS, too many redirects. */
  Network = -8,
  /** Increment of a value that is not a decimal 64-bit integer. */
  NotANumber = -9,
  /** Not an ABI code: the SDK could not make sense of a host answer. */
  Malformed = -1000,
}

/** "NOT_FOUND", "ACCESS_DENIED", ... ("OTHER" for codes this SDK does not know). */
export function errorName(code: i32): string {
  switch (code) {
    case ErrorCode.NotFound: return "NOT_FOUND";
    case ErrorCode.AccessDenied: return "ACCESS_DENIED";
    case ErrorCode.InvalidArgument: return "INVALID_ARGUMENT";
    case ErrorCode.LimitExceeded: return "LIMIT_EXCEEDED";
    case ErrorCode.Unavailable: return "UNAVAILABLE";
    case ErrorCode.Conflict: return "CONFLICT";
    case ErrorCode.Timeout: return "TIMEOUT";
    case ErrorCode.Network: return "NETWORK";
    case ErrorCode.NotANumber: return "NOT_A_NUMBER";
    default: return "OTHER";
  }
}

/** A readable description, e.g. "NOT_FOUND: no such key, variable or handle". */
export function errorMessage(code: i32): string {
  let what: string;
  switch (code) {
    case ErrorCode.NotFound: what = "no such key, variable or handle"; break;
    case ErrorCode.AccessDenied: what = "not granted to this component"; break;
    case ErrorCode.InvalidArgument: what = "invalid argument"; break;
    case ErrorCode.LimitExceeded: what = "limit exceeded"; break;
    case ErrorCode.Unavailable: what = "the backend is unavailable"; break;
    case ErrorCode.Conflict: what = "the current value is not the expected one"; break;
    case ErrorCode.Timeout: what = "timed out"; break;
    case ErrorCode.Network: what = "the outbound request failed"; break;
    case ErrorCode.NotANumber: what = "the value is not a decimal 64-bit integer"; break;
    case ErrorCode.Malformed: return "OTHER: malformed answer from the host";
    default: return "OTHER: unknown error code " + code.toString();
  }
  return errorName(code) + ": " + what;
}

/** True for Unavailable and Timeout: the backend is failing; answer 503 and retry later. */
export function isUnavailable(code: i32): bool {
  return code == ErrorCode.Unavailable || code == ErrorCode.Timeout;
}

/**
 * A value or an error code. `ok` tells which; `value` is only valid when `ok` (reading it on an
 * error aborts); `code` is 0 on success and a negative ErrorCode otherwise.
 */
export class Result<T> {
  constructor(public readonly code: i32, private _value: T) {}

  get ok(): bool {
    return this.code >= 0;
  }

  get value(): T {
    if (this.code < 0) abort("Result.value read on an error: " + errorMessage(this.code));
    return this._value;
  }

  /** The value, or `fallback` on an error. */
  valueOr(fallback: T): T {
    return this.code < 0 ? fallback : this._value;
  }

  /** errorMessage(code). */
  get message(): string {
    return this.code < 0 ? errorMessage(this.code) : "OK";
  }
}

/** A successful Result. */
export function ok<T>(value: T): Result<T> {
  return new Result<T>(0, value);
}

/** A failed Result with `code` (< 0). */
export function err<T>(code: i32): Result<T> {
  if (isReference<T>()) return new Result<T>(code, changetype<T>(0));
  // @ts-ignore: a zero of a value type
  return new Result<T>(code, <T>0);
}
