//! The raw `verge:v1` imports (docs/abi.md), behind slice-based wrappers.
//!
//! On `wasm32` the wrappers pass pointers and lengths into linear memory to the host. On any
//! other target they call the in-process fake host in [`crate::mock`], so the SDK (and handlers
//! built on it) can be unit-tested natively with `cargo test`.
//!
//! Every wrapper returns the host's raw `i32` result; the public modules interpret it.

#[cfg(target_arch = "wasm32")]
mod imports {
    // Names and signatures exactly as in docs/abi.md. Pointers and lengths are i32 (wasm32
    // addresses); the only 64-bit value is kv_increment's delta.
    #[link(wasm_import_module = "verge:v1")]
    extern "C" {
        pub fn kv_open(name_ptr: i32, name_len: i32) -> i32;
        pub fn kv_get(store: i32, key_ptr: i32, key_len: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn kv_set(store: i32, key_ptr: i32, key_len: i32, val_ptr: i32, val_len: i32) -> i32;
        pub fn kv_delete(store: i32, key_ptr: i32, key_len: i32) -> i32;
        pub fn kv_exists(store: i32, key_ptr: i32, key_len: i32) -> i32;
        pub fn kv_increment(store: i32, key_ptr: i32, key_len: i32, delta: i64, out_ptr: i32) -> i32;
        pub fn kv_compare_and_swap(
            store: i32,
            key_ptr: i32,
            key_len: i32,
            expected_ptr: i32,
            expected_len: i32,
            new_ptr: i32,
            new_len: i32,
        ) -> i32;
        pub fn kv_list_keys(
            store: i32,
            prefix_ptr: i32,
            prefix_len: i32,
            after_ptr: i32,
            after_len: i32,
            out_ptr: i32,
            out_cap: i32,
        ) -> i32;

        pub fn http_send(
            method_ptr: i32,
            method_len: i32,
            url_ptr: i32,
            url_len: i32,
            headers_ptr: i32,
            headers_len: i32,
            body_ptr: i32,
            body_len: i32,
        ) -> i32;
        pub fn http_response_status(response: i32) -> i32;
        pub fn http_response_headers(response: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn http_response_body(response: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn http_close(response: i32) -> i32;

        pub fn variable_get(name_ptr: i32, name_len: i32, out_ptr: i32, out_cap: i32) -> i32;

        pub fn log(level: i32, msg_ptr: i32, msg_len: i32) -> i32;

        pub fn pg_open(addr_ptr: i32, addr_len: i32) -> i32;
        pub fn pg_query(conn: i32, stmt_ptr: i32, stmt_len: i32, params_ptr: i32, params_len: i32) -> i32;
        pub fn pg_result(conn: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn pg_execute(conn: i32, stmt_ptr: i32, stmt_len: i32, params_ptr: i32, params_len: i32, out_ptr: i32) -> i32;
        pub fn pg_begin(conn: i32) -> i32;
        pub fn pg_commit(conn: i32) -> i32;
        pub fn pg_rollback(conn: i32) -> i32;
        pub fn pg_error(conn: i32, out_ptr: i32, out_cap: i32) -> i32;
        pub fn pg_close(conn: i32) -> i32;
        pub fn redis_open(target_ptr: i32, target_len: i32) -> i32;
        pub fn redis_execute(conn: i32, cmd_ptr: i32, cmd_len: i32, args_ptr: i32, args_len: i32) -> i32;
        pub fn redis_result(conn: i32, out_ptr: i32, out_cap: i32) -> i32;
    }
}

#[cfg(target_arch = "wasm32")]
mod host {
    use super::imports as raw;

    #[inline]
    fn p(s: &[u8]) -> i32 {
        s.as_ptr() as usize as i32
    }
    #[inline]
    fn pm(s: &mut [u8]) -> i32 {
        s.as_mut_ptr() as usize as i32
    }
    #[inline]
    fn l(s: &[u8]) -> i32 {
        s.len() as i32
    }

    pub fn kv_open(name: &[u8]) -> i32 {
        unsafe { raw::kv_open(p(name), l(name)) }
    }
    pub fn kv_get(store: i32, key: &[u8], out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::kv_get(store, p(key), l(key), pm(out), cap) }
    }
    pub fn kv_set(store: i32, key: &[u8], value: &[u8]) -> i32 {
        unsafe { raw::kv_set(store, p(key), l(key), p(value), l(value)) }
    }
    pub fn kv_delete(store: i32, key: &[u8]) -> i32 {
        unsafe { raw::kv_delete(store, p(key), l(key)) }
    }
    pub fn kv_exists(store: i32, key: &[u8]) -> i32 {
        unsafe { raw::kv_exists(store, p(key), l(key)) }
    }
    pub fn kv_increment(store: i32, key: &[u8], delta: i64, out: &mut [u8; 8]) -> i32 {
        unsafe { raw::kv_increment(store, p(key), l(key), delta, pm(out)) }
    }
    pub fn kv_compare_and_swap(store: i32, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> i32 {
        let (ep, el) = match expected {
            Some(e) => (p(e), l(e)),
            None => (0, -1),
        };
        unsafe { raw::kv_compare_and_swap(store, p(key), l(key), ep, el, p(new), l(new)) }
    }
    pub fn kv_list_keys(store: i32, prefix: &[u8], after: &[u8], out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::kv_list_keys(store, p(prefix), l(prefix), p(after), l(after), pm(out), cap) }
    }
    pub fn http_send(method: &[u8], url: &[u8], headers: &[u8], body: &[u8]) -> i32 {
        unsafe {
            raw::http_send(p(method), l(method), p(url), l(url), p(headers), l(headers), p(body), l(body))
        }
    }
    pub fn http_response_status(response: i32) -> i32 {
        unsafe { raw::http_response_status(response) }
    }
    pub fn http_response_headers(response: i32, out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::http_response_headers(response, pm(out), cap) }
    }
    pub fn http_response_body(response: i32, out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::http_response_body(response, pm(out), cap) }
    }
    pub fn http_close(response: i32) -> i32 {
        unsafe { raw::http_close(response) }
    }
    pub fn variable_get(name: &[u8], out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::variable_get(p(name), l(name), pm(out), cap) }
    }
    pub fn log(level: i32, msg: &[u8]) -> i32 {
        unsafe { raw::log(level, p(msg), l(msg)) }
    }
    pub fn pg_open(addr: &[u8]) -> i32 {
        unsafe { raw::pg_open(p(addr), l(addr)) }
    }
    pub fn pg_query(conn: i32, stmt: &[u8], params: &[u8]) -> i32 {
        unsafe { raw::pg_query(conn, p(stmt), l(stmt), p(params), l(params)) }
    }
    pub fn pg_result(conn: i32, out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::pg_result(conn, pm(out), cap) }
    }
    pub fn pg_execute(conn: i32, stmt: &[u8], params: &[u8], out: &mut [u8; 8]) -> i32 {
        unsafe { raw::pg_execute(conn, p(stmt), l(stmt), p(params), l(params), pm(out)) }
    }
    pub fn pg_begin(conn: i32) -> i32 {
        unsafe { raw::pg_begin(conn) }
    }
    pub fn pg_commit(conn: i32) -> i32 {
        unsafe { raw::pg_commit(conn) }
    }
    pub fn pg_rollback(conn: i32) -> i32 {
        unsafe { raw::pg_rollback(conn) }
    }
    pub fn pg_error(conn: i32, out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::pg_error(conn, pm(out), cap) }
    }
    pub fn pg_close(conn: i32) -> i32 {
        unsafe { raw::pg_close(conn) }
    }
    pub fn redis_open(target: &[u8]) -> i32 {
        unsafe { raw::redis_open(p(target), l(target)) }
    }
    pub fn redis_execute(conn: i32, command: &[u8], args: &[u8]) -> i32 {
        unsafe { raw::redis_execute(conn, p(command), l(command), p(args), l(args)) }
    }
    pub fn redis_result(conn: i32, out: &mut [u8]) -> i32 {
        let cap = out.len() as i32;
        unsafe { raw::redis_result(conn, pm(out), cap) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
use crate::mock::host;

pub(crate) use host::*;

/// Calls `call` with a buffer of `initial` bytes; while the host answers with a length larger
/// than the buffer ("buffer too small returns the length needed"), grows the buffer to that
/// length and calls again. The value may change between calls, so this loops until it fits.
/// Returns the data, or the negative code the host answered with.
pub(crate) fn read_sized<F>(initial: usize, mut call: F) -> Result<Vec<u8>, i32>
where
    F: FnMut(&mut [u8]) -> i32,
{
    let mut buf = vec![0u8; initial];
    loop {
        let n = call(&mut buf);
        if n < 0 {
            return Err(n);
        }
        let n = n as usize;
        if n <= buf.len() {
            buf.truncate(n);
            return Ok(buf);
        }
        buf.resize(n, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::read_sized;

    #[test]
    fn read_sized_grows_until_the_data_fits() {
        // A value that grows between calls: 10 bytes, then 30, then 30.
        let sizes = [10usize, 30, 30];
        let mut calls = 0;
        let got = read_sized(4, |out| {
            let n = sizes[calls.min(sizes.len() - 1)];
            calls += 1;
            if n <= out.len() {
                for (i, b) in out[..n].iter_mut().enumerate() {
                    *b = i as u8;
                }
            }
            n as i32
        })
        .unwrap();
        assert_eq!(calls, 3);
        assert_eq!(got, (0..30).collect::<Vec<u8>>());
    }

    #[test]
    fn read_sized_returns_the_error_code() {
        assert_eq!(read_sized(4, |_| -1), Err(-1));
        assert_eq!(read_sized(0, |_| 0), Ok(vec![]));
    }
}
