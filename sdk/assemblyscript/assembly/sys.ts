// The raw `verge:v1` host imports, exactly as docs/abi.md specifies them. Every argument and
// result is an i32 (pointers and lengths into linear memory), except kv_increment's delta (i64).
// Use the wrappers in kv.ts, fetch.ts, variables.ts, log.ts and redis.ts instead.

// --- key-value ---------------------------------------------------------------------------

@external("verge:v1", "kv_open")
export declare function kv_open(name_ptr: i32, name_len: i32): i32;

@external("verge:v1", "kv_get")
export declare function kv_get(store: i32, key_ptr: i32, key_len: i32, out_ptr: i32, out_cap: i32): i32;

@external("verge:v1", "kv_set")
export declare function kv_set(store: i32, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32): i32;

@external("verge:v1", "kv_delete")
export declare function kv_delete(store: i32, key_ptr: i32, key_len: i32): i32;

@external("verge:v1", "kv_exists")
export declare function kv_exists(store: i32, key_ptr: i32, key_len: i32): i32;

@external("verge:v1", "kv_increment")
export declare function kv_increment(store: i32, key_ptr: i32, key_len: i32, delta: i64, out_ptr: i32): i32;

@external("verge:v1", "kv_compare_and_swap")
export declare function kv_compare_and_swap(
  store: i32, key_ptr: i32, key_len: i32,
  expected_ptr: i32, expected_len: i32,
  new_ptr: i32, new_len: i32,
): i32;

@external("verge:v1", "kv_list_keys")
export declare function kv_list_keys(
  store: i32, prefix_ptr: i32, prefix_len: i32,
  after_ptr: i32, after_len: i32,
  out_ptr: i32, out_cap: i32,
): i32;

// --- outbound HTTP -----------------------------------------------------------------------

@external("verge:v1", "http_send")
export declare function http_send(
  method_ptr: i32, method_len: i32,
  url_ptr: i32, url_len: i32,
  headers_ptr: i32, headers_len: i32,
  body_ptr: i32, body_len: i32,
): i32;

@external("verge:v1", "http_response_status")
export declare function http_response_status(response: i32): i32;

@external("verge:v1", "http_response_headers")
export declare function http_response_headers(response: i32, out_ptr: i32, out_cap: i32): i32;

@external("verge:v1", "http_response_body")
export declare function http_response_body(response: i32, out_ptr: i32, out_cap: i32): i32;

@external("verge:v1", "http_close")
export declare function http_close(response: i32): i32;

// --- variables and logging ---------------------------------------------------------------

@external("verge:v1", "variable_get")
export declare function variable_get(name_ptr: i32, name_len: i32, out_ptr: i32, out_cap: i32): i32;

@external("verge:v1", "log")
export declare function log(level: i32, msg_ptr: i32, msg_len: i32): i32;

// --- Redis ---------------------------------------------------------------------------------

@external("verge:v1", "redis_open")
export declare function redis_open(target_ptr: i32, target_len: i32): i32;

@external("verge:v1", "redis_execute")
export declare function redis_execute(conn: i32, cmd_ptr: i32, cmd_len: i32, args_ptr: i32, args_len: i32): i32;

@external("verge:v1", "redis_result")
export declare function redis_result(conn: i32, out_ptr: i32, out_cap: i32): i32;

// --- helpers for the wrappers --------------------------------------------------------------

/** A string as UTF-8 bytes (for passing to the host). */
export function utf8(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** The address of an ArrayBuffer's bytes, as the i32 the ABI takes. */
@inline export function ptr(buf: ArrayBuffer): i32 {
  return <i32>changetype<usize>(buf);
}

/** The address of a Uint8Array's first byte. */
@inline export function bytesPtr(buf: Uint8Array): i32 {
  return <i32>buf.dataStart;
}

/** Decodes UTF-8 bytes (invalid sequences become U+FFFD). */
export function decode(buf: Uint8Array): string {
  return String.UTF8.decodeUnsafe(buf.dataStart, <usize>buf.length);
}
