// Log records through the host (log in docs/abi.md), with the request id and the component.
// At most 200 records (guest log and stderr lines together) of at most 4 KiB per request.

import * as sys from "./sys";

export const TRACE: i32 = 0;
export const DEBUG: i32 = 1;
export const INFO: i32 = 2;
export const WARN: i32 = 3;
export const ERROR: i32 = 4;

/** Writes `msg` at `level` (0 trace .. 4 error). Returns 0 or a negative ErrorCode. */
export function write(level: i32, msg: string): i32 {
  let m = sys.utf8(msg);
  return sys.log(level, sys.ptr(m), m.byteLength);
}

export function trace(msg: string): void { write(TRACE, msg); }
export function debug(msg: string): void { write(DEBUG, msg); }
export function info(msg: string): void { write(INFO, msg); }
export function warn(msg: string): void { write(WARN, msg); }
export function error(msg: string): void { write(ERROR, msg); }
