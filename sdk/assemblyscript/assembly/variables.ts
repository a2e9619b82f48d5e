// Variables and secrets (variable_get in docs/abi.md): declared in [variables], granted per
// component with variables = ["name", ...].

import { ErrorCode, Result, err, ok } from "./errors";
import * as sys from "./sys";

/**
 * The value of variable `name`; null if it has no value (NOT_FOUND); ErrorCode.AccessDenied if
 * the component was not granted it.
 */
export function getVariable(name: string): Result<string | null> {
  let n = sys.utf8(name);
  let buf = new Uint8Array(256);
  while (true) {
    let len = sys.variable_get(sys.ptr(n), n.byteLength, sys.bytesPtr(buf), buf.length);
    if (len == ErrorCode.NotFound) return ok<string | null>(null);
    if (len < 0) return err<string | null>(len);
    if (len <= buf.length) return ok<string | null>(String.UTF8.decodeUnsafe(buf.dataStart, <usize>len));
    buf = new Uint8Array(len);
  }
}

/** The value of `name`, or `fallback` if it has none. Other errors are returned. */
export function getVariableOr(name: string, fallback: string): Result<string> {
  let r = getVariable(name);
  if (!r.ok) return err<string>(r.code);
  let v = r.value;
  return ok<string>(v == null ? fallback : v);
}
