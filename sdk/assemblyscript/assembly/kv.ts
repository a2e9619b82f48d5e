// Key-value stores (kv_* in docs/abi.md). A component reaches the stores its manifest entry
// grants (key_value_stores = ["default"]). Keys are UTF-8 strings of 1..512 bytes; values are
// bytes, up to 1 MiB.

import { ErrorCode, Result, err, ok } from "./errors";
import * as sys from "./sys";

/** First buffer size for kv_get; a larger value takes a second call. */
const GET_BUFFER: i32 = 1024;
/** First buffer size for a kv_list_keys page. */
const LIST_BUFFER: i32 = 8192;

// Scratch space for kv_increment's i64 result.
const INCREMENT_OUT = memory.data(8, 8);

/** An open key-value store; the handle is valid until the end of the request. */
export class Store {
  constructor(public readonly handle: i32) {}

  /** Opens the store `name`; ErrorCode.AccessDenied if the component was not granted it. */
  static open(name: string): Result<Store> {
    let n = sys.utf8(name);
    let rc = sys.kv_open(sys.ptr(n), n.byteLength);
    if (rc < 0) return err<Store>(rc);
    return ok<Store>(new Store(rc));
  }

  /** Opens the store named "default". */
  static openDefault(): Result<Store> {
    return Store.open("default");
  }

  /** The value of `key`, or null if it does not exist. */
  get(key: string): Result<Uint8Array | null> {
    let k = sys.utf8(key);
    let buf = new Uint8Array(GET_BUFFER);
    while (true) {
      let n = sys.kv_get(this.handle, sys.ptr(k), k.byteLength, sys.bytesPtr(buf), buf.length);
      if (n == ErrorCode.NotFound) return ok<Uint8Array | null>(null);
      if (n < 0) return err<Uint8Array | null>(n);
      // "Buffer too small returns the length needed": retry with that much room (the value
      // may have changed in between, so loop until it fits).
      if (n <= buf.length) return ok<Uint8Array | null>(buf.subarray(0, n));
      buf = new Uint8Array(n);
    }
  }

  /** The value of `key` as UTF-8 text, or null if it does not exist. */
  getString(key: string): Result<string | null> {
    let r = this.get(key);
    if (!r.ok) return err<string | null>(r.code);
    let v = r.value;
    if (v == null) return ok<string | null>(null);
    return ok<string | null>(sys.decode(v));
  }

  /** Sets `key` to `value`. Returns 0, or a negative ErrorCode. */
  set(key: string, value: Uint8Array): i32 {
    let k = sys.utf8(key);
    let rc = sys.kv_set(this.handle, sys.ptr(k), k.byteLength, sys.bytesPtr(value), value.length);
    return rc < 0 ? rc : 0;
  }

  /** Sets `key` to the UTF-8 text `value`. Returns 0, or a negative ErrorCode. */
  setString(key: string, value: string): i32 {
    return this.set(key, Uint8Array.wrap(sys.utf8(value)));
  }

  /** Deletes `key`: true if it existed. */
  delete(key: string): Result<bool> {
    let k = sys.utf8(key);
    let rc = sys.kv_delete(this.handle, sys.ptr(k), k.byteLength);
    return rc < 0 ? err<bool>(rc) : ok<bool>(rc == 1);
  }

  /** Whether `key` exists. */
  exists(key: string): Result<bool> {
    let k = sys.utf8(key);
    let rc = sys.kv_exists(this.handle, sys.ptr(k), k.byteLength);
    return rc < 0 ? err<bool>(rc) : ok<bool>(rc == 1);
  }

  /**
   * Atomically adds `delta` to the decimal integer at `key` (a missing key counts as 0) and
   * returns the new value. ErrorCode.NotANumber if the value is not a decimal i64.
   */
  increment(key: string, delta: i64): Result<i64> {
    let k = sys.utf8(key);
    let rc = sys.kv_increment(this.handle, sys.ptr(k), k.byteLength, delta, <i32>INCREMENT_OUT);
    if (rc < 0) return err<i64>(rc);
    return ok<i64>(load<i64>(INCREMENT_OUT)); // little-endian, as wasm is
  }

  /**
   * Atomically sets `key` to `value` if its current value is `expected` (null: if the key does
   * not exist). Returns 0, ErrorCode.Conflict if the value was something else, or another
   * negative ErrorCode.
   *
   * For a read-modify-write that loses no concurrent update, loop: get, compute, compareAndSwap
   * with the bytes you read; on Conflict start over (bounded); on any other error stop.
   */
  compareAndSwap(key: string, expected: Uint8Array | null, value: Uint8Array): i32 {
    let k = sys.utf8(key);
    let ep: i32 = 0;
    let el: i32 = -1; // "the key must not exist"
    if (expected != null) {
      ep = sys.bytesPtr(expected);
      el = expected.length;
    }
    let rc = sys.kv_compare_and_swap(this.handle, sys.ptr(k), k.byteLength, ep, el, sys.bytesPtr(value), value.length);
    return rc < 0 ? rc : 0;
  }

  /**
   * Every key starting with `prefix`, in byte order, strictly after `after` ("" for all),
   * fetching page after page.
   */
  listKeys(prefix: string, after: string = ""): Result<Array<string>> {
    let p = sys.utf8(prefix);
    let a = Uint8Array.wrap(sys.utf8(after));
    let keys = new Array<string>();
    let buf = new Uint8Array(LIST_BUFFER);
    while (true) {
      let n = sys.kv_list_keys(this.handle, sys.ptr(p), p.byteLength, sys.bytesPtr(a), a.length, sys.bytesPtr(buf), buf.length);
      if (n < 0) return err<Array<string>>(n);
      if (n == 0) return ok<Array<string>>(keys); // no more keys
      if (n > buf.length) {
        // Not even the first key fitted: n is its record's length.
        buf = new Uint8Array(n);
        continue;
      }
      // Records: [len: u32 little-endian][key bytes].
      let pos = 0;
      let lastStart = 0;
      let lastLen = 0;
      while (pos < n) {
        if (n - pos < 4) return err<Array<string>>(ErrorCode.Malformed);
        let len = <i32>load<u32>(buf.dataStart + <usize>pos);
        pos += 4;
        if (len <= 0 || len > n - pos) return err<Array<string>>(ErrorCode.Malformed);
        keys.push(String.UTF8.decodeUnsafe(buf.dataStart + <usize>pos, <usize>len));
        lastStart = pos;
        lastLen = len;
        pos += len;
      }
      // Continue after the last key returned (its raw bytes).
      a = buf.slice(lastStart, lastStart + lastLen);
    }
  }
}
