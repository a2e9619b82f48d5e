//! An in-process fake of the `verge:v1` host, compiled on every target except `wasm32`.
//!
//! On `wasm32` the SDK calls the real host. Elsewhere (`cargo test` on the build machine) its
//! calls land here instead, so handlers can be unit-tested natively: key-value stores in memory,
//! variables, captured log records, canned outbound HTTP responses and PostgreSQL answers, and
//! failure injection.
//!
//! Each thread has a current [`Host`]; a fresh, empty one is created on first use. To share one
//! host between threads (e.g. to test compare-and-swap loops under contention), create it once
//! and call [`Host::install`] on each thread:
//!
//! ```
//! use verge_sdk::{kv::Store, mock::Host};
//! let host = Host::new();
//! host.install();
//! let store = Store::open("default").unwrap();
//! store.set("k", b"v").unwrap();
//! assert_eq!(host.kv_value("default", "k"), Some(b"v".to_vec()));
//! ```

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Error;
use crate::pg::{DbError, Rows, Value};

/// Largest key and value the fake accepts, as in docs/abi.md.
const MAX_KEY: usize = 512;
const MAX_VALUE: usize = 1 << 20;

/// An outbound request as the fake host received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    /// The raw `name: value` lines, split.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A canned answer for an outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names are lower-cased by the fake, as the real host does.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The key-value operation a [`Host::on_kv`] hook is called before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvOp {
    Get,
    Set,
    Delete,
    Exists,
    Increment,
    CompareAndSwap,
    ListKeys,
}

/// What a PostgreSQL call asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PgOp {
    Query,
    Execute,
    Begin,
    Commit,
    Rollback,
}

/// A PostgreSQL call as the fake host received it (`sql` is empty for begin, commit, rollback).
#[derive(Debug, Clone, PartialEq)]
pub struct PgCall {
    /// The name or URL the connection was opened with.
    pub database: String,
    pub op: PgOp,
    pub sql: String,
    pub params: Vec<Value>,
}

/// A canned answer to a PostgreSQL call: rows for a query, a count for an execute.
#[derive(Debug, Clone, PartialEq)]
pub enum PgAnswer {
    Rows(Rows),
    Affected(u64),
    Done,
}

type PgHandler = Box<dyn FnMut(&PgCall) -> Result<PgAnswer, DbError> + Send>;

type Entries = BTreeMap<Vec<u8>, Vec<u8>>;
type HttpHandler = Box<dyn FnMut(&HttpRequest) -> Result<HttpResponse, Error> + Send>;
type KvHook = Box<dyn FnMut(&mut KvCall<'_>) + Send>;
type RedisHandler = Box<dyn FnMut(&RedisCall) -> Result<Vec<crate::redis::Value>, Error> + Send>;

/// A Redis command as the fake host received it (the command name upper-cased, as Verge sends it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisCall {
    /// The connection's name or address, as given to `Connection::open`.
    pub target: String,
    pub command: String,
    pub args: Vec<Vec<u8>>,
}

/// What a [`Host::on_kv`] hook sees: the operation, its key, the store's entries (to change,
/// playing another writer), and a way to make the operation fail.
pub struct KvCall<'a> {
    /// The operation about to run.
    pub op: KvOp,
    /// Its key (the prefix for `ListKeys`).
    pub key: &'a [u8],
    /// The store's entries, before the operation.
    pub entries: &'a mut BTreeMap<Vec<u8>, Vec<u8>>,
    fail: Option<Error>,
}

impl KvCall<'_> {
    /// Makes this operation fail with `error` instead of running.
    pub fn fail(&mut self, error: Error) {
        self.fail = Some(error);
    }

    /// The key as text.
    pub fn key_str(&self) -> &str {
        std::str::from_utf8(self.key).unwrap_or("")
    }
}

#[derive(Default)]
struct State {
    granted_stores: Option<HashSet<String>>,
    stores: HashMap<String, Entries>,
    handles: Vec<String>,
    variables: HashMap<String, String>,
    denied_variables: HashSet<String>,
    kv_failure: Option<(i32, Option<u32>)>,
    page_limit: Option<usize>,
    http: Option<HttpHandler>,
    responses: HashMap<i32, HttpResponse>,
    next_response: i32,
    sent: Vec<HttpRequest>,
    logs: Vec<(i32, String)>,
    kv_hook: Option<KvHook>,
    granted_databases: HashSet<String>,
    pg: Option<PgHandler>,
    pg_handles: Vec<String>,
    pg_results: HashMap<i32, Vec<u8>>,
    pg_errors: HashMap<i32, String>,
    pg_calls: Vec<PgCall>,
    denied_redis: HashSet<String>,
    redis: Option<RedisHandler>,
    redis_handles: Vec<String>,
    redis_results: HashMap<i32, Vec<u8>>,
    redis_calls: Vec<RedisCall>,
}

/// A fake `verge:v1` host. Cloning shares the same state.
#[derive(Clone, Default)]
pub struct Host(Arc<Mutex<State>>);

thread_local! {
    static CURRENT: RefCell<Option<Host>> = RefCell::new(None);
}

impl Host {
    /// An empty host: every store is granted and empty, no variables, no HTTP handler.
    pub fn new() -> Host {
        Host::default()
    }

    /// Makes this host the one the SDK talks to on the current thread.
    pub fn install(&self) -> &Host {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        self
    }

    /// The current thread's host (a fresh one, installed, if none was).
    pub fn current() -> Host {
        CURRENT.with(|c| c.borrow_mut().get_or_insert_with(Host::new).clone())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panicking test must not poison the host for the others.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Answers every Redis command with `handler` (without one, commands fail with `Unavailable`).
    pub fn on_redis<F>(&self, handler: F) -> &Host
    where
        F: FnMut(&RedisCall) -> Result<Vec<crate::redis::Value>, Error> + Send + 'static,
    {
        self.state().redis = Some(Box::new(handler));
        self
    }

    /// `Connection::open` of this name or address answers `AccessDenied`.
    pub fn deny_redis(&self, target: &str) -> &Host {
        self.state().denied_redis.insert(target.to_string());
        self
    }

    /// The Redis commands sent so far.
    pub fn redis_calls(&self) -> Vec<RedisCall> {
        self.state().redis_calls.clone()
    }

    /// Grants only these stores (by default every store name is granted).
    pub fn grant_stores(&self, names: &[&str]) -> &Host {
        self.state().granted_stores = Some(names.iter().map(|s| s.to_string()).collect());
        self
    }

    /// Gives the variable `name` a value.
    pub fn set_variable(&self, name: &str, value: &str) -> &Host {
        self.state().variables.insert(name.to_string(), value.to_string());
        self
    }

    /// Makes `variable_get(name)` answer `ACCESS_DENIED`.
    pub fn deny_variable(&self, name: &str) -> &Host {
        self.state().denied_variables.insert(name.to_string());
        self
    }

    /// Makes the next `times` key-value calls (all of them when `None`) fail with `error`,
    /// as a failing backend or an open circuit breaker would. `kv_open` is not affected.
    pub fn fail_kv(&self, error: Error, times: Option<u32>) -> &Host {
        self.state().kv_failure = Some((error.code(), times));
        self
    }

    /// Ends the failure injected by [`Host::fail_kv`].
    pub fn heal_kv(&self) -> &Host {
        self.state().kv_failure = None;
        self
    }

    /// Caps `kv_list_keys` pages at `keys` keys (the real host's cap is 1000), to test paging.
    pub fn set_list_page_limit(&self, keys: usize) -> &Host {
        self.state().page_limit = Some(keys.max(1));
        self
    }

    /// Calls `hook` before every key-value operation (after [`Host::fail_kv`] failures, which
    /// never reach it). A test can change the entries to play a concurrent writer, e.g. between
    /// a guest's `get` and its `compare_and_swap`, or fail this one call. The hook runs while
    /// the host is locked: it must not call the `Host` or the SDK.
    pub fn on_kv<F>(&self, hook: F) -> &Host
    where
        F: FnMut(&mut KvCall<'_>) + Send + 'static,
    {
        self.state().kv_hook = Some(Box::new(hook));
        self
    }

    /// Answers outbound requests with `handler` (without one, `http_send` fails with
    /// `ACCESS_DENIED`, as for a host that is not granted).
    pub fn on_http<F>(&self, handler: F) -> &Host
    where
        F: FnMut(&HttpRequest) -> Result<HttpResponse, Error> + Send + 'static,
    {
        self.state().http = Some(Box::new(handler));
        self
    }

    /// The outbound requests sent so far.
    pub fn sent_requests(&self) -> Vec<HttpRequest> {
        self.state().sent.clone()
    }

    /// How many outbound responses are still open (not closed by `http_close`).
    pub fn open_responses(&self) -> usize {
        self.state().responses.len()
    }

    /// A value in a store, bypassing grants and failures.
    pub fn kv_value(&self, store: &str, key: &str) -> Option<Vec<u8>> {
        self.state().stores.get(store)?.get(key.as_bytes()).cloned()
    }

    /// Sets a value in a store, bypassing grants and failures.
    pub fn kv_insert(&self, store: &str, key: &str, value: &[u8]) -> &Host {
        self.state()
            .stores
            .entry(store.to_string())
            .or_default()
            .insert(key.as_bytes().to_vec(), value.to_vec());
        self
    }

    /// All keys of a store, in byte order.
    pub fn kv_keys(&self, store: &str) -> Vec<String> {
        match self.state().stores.get(store) {
            Some(entries) => entries.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect(),
            None => Vec::new(),
        }
    }

    /// Grants databases by name (`databases = [...]`); none is granted otherwise. A
    /// `postgres://` address is always accepted by the fake.
    pub fn grant_databases(&self, names: &[&str]) -> &Host {
        self.state().granted_databases = names.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Answers PostgreSQL calls with `handler` (without one, every statement fails with `UNAVAILABLE`).
    pub fn on_pg<F>(&self, handler: F) -> &Host
    where
        F: FnMut(&PgCall) -> Result<PgAnswer, DbError> + Send + 'static,
    {
        self.state().pg = Some(Box::new(handler));
        self
    }

    /// The PostgreSQL calls made so far.
    pub fn pg_calls(&self) -> Vec<PgCall> {
        self.state().pg_calls.clone()
    }

    /// The log records written so far, as `(level, message)`.
    pub fn logs(&self) -> Vec<(i32, String)> {
        self.state().logs.clone()
    }
}

fn current() -> Host {
    Host::current()
}

/// The `sys` functions for native targets: the same contract as the wasm imports.
pub(crate) mod host {
    use super::*;

    const NOT_FOUND: i32 = -1;
    const ACCESS_DENIED: i32 = -2;
    const INVALID_ARGUMENT: i32 = -3;
    const LIMIT_EXCEEDED: i32 = -4;
    const CONFLICT: i32 = -6;
    const NOT_A_NUMBER: i32 = -9;

    /// Copies `data` to `out` if it fits; returns its length either way.
    fn put(data: &[u8], out: &mut [u8]) -> i32 {
        if data.len() <= out.len() {
            out[..data.len()].copy_from_slice(data);
        }
        data.len() as i32
    }

    /// Runs a key-value operation: checks the handle and the key, applies failure injection,
    /// runs the hook, then `f` on the store's entries.
    fn with_store<F>(store: i32, op: KvOp, key: &[u8], f: F) -> i32
    where
        F: FnOnce(&mut Entries) -> i32,
    {
        let host = current();
        let mut st = host.state();
        let name = match usize::try_from(store).ok().and_then(|i| st.handles.get(i)) {
            Some(name) => name.clone(),
            None => return NOT_FOUND,
        };
        // (Verge answers an empty key with LIMIT_EXCEEDED too: keys are 1..=512 bytes.)
        if op != KvOp::ListKeys && (key.is_empty() || key.len() > MAX_KEY) {
            return LIMIT_EXCEEDED;
        }
        if std::str::from_utf8(key).is_err() {
            return INVALID_ARGUMENT;
        }
        if let Some((code, times)) = st.kv_failure {
            match times {
                None => return code,
                Some(0) => st.kv_failure = None,
                Some(n) => {
                    st.kv_failure = if n == 1 { None } else { Some((code, Some(n - 1))) };
                    return code;
                }
            }
        }
        let mut hook = st.kv_hook.take();
        let st = &mut *st;
        let entries = st.stores.entry(name).or_default();
        let mut failed = None;
        if let Some(h) = hook.as_mut() {
            let mut call = KvCall { op, key, entries: &mut *entries, fail: None };
            h(&mut call);
            failed = call.fail;
        }
        let rc = match failed {
            Some(e) => e.code(),
            None => f(entries),
        };
        if st.kv_hook.is_none() {
            st.kv_hook = hook;
        }
        rc
    }

    pub fn kv_open(name: &[u8]) -> i32 {
        let name = match std::str::from_utf8(name) {
            Ok(n) => n.to_string(),
            Err(_) => return INVALID_ARGUMENT,
        };
        let host = current();
        let mut st = host.state();
        if let Some(granted) = &st.granted_stores {
            if !granted.contains(&name) {
                return ACCESS_DENIED;
            }
        }
        if let Some(i) = st.handles.iter().position(|h| *h == name) {
            return i as i32;
        }
        st.handles.push(name);
        (st.handles.len() - 1) as i32
    }

    pub fn kv_get(store: i32, key: &[u8], out: &mut [u8]) -> i32 {
        with_store(store, KvOp::Get, key, |e| match e.get(key) {
            Some(v) => put(v, out),
            None => NOT_FOUND,
        })
    }

    pub fn kv_set(store: i32, key: &[u8], value: &[u8]) -> i32 {
        if value.len() > MAX_VALUE {
            return LIMIT_EXCEEDED;
        }
        with_store(store, KvOp::Set, key, |e| {
            e.insert(key.to_vec(), value.to_vec());
            0
        })
    }

    pub fn kv_delete(store: i32, key: &[u8]) -> i32 {
        with_store(store, KvOp::Delete, key, |e| e.remove(key).is_some() as i32)
    }

    pub fn kv_exists(store: i32, key: &[u8]) -> i32 {
        with_store(store, KvOp::Exists, key, |e| e.contains_key(key) as i32)
    }

    pub fn kv_increment(store: i32, key: &[u8], delta: i64, out: &mut [u8; 8]) -> i32 {
        with_store(store, KvOp::Increment, key, |e| {
            let current = match e.get(key) {
                None => 0i64,
                Some(v) => match parse_counter(v) {
                    Some(n) => n,
                    None => return NOT_A_NUMBER,
                },
            };
            // As Verge does: a result outside i64 is NOT_A_NUMBER, and the value is unchanged.
            let next = match current.checked_add(delta) {
                Some(n) => n,
                None => return NOT_A_NUMBER,
            };
            e.insert(key.to_vec(), next.to_string().into_bytes());
            *out = next.to_le_bytes();
            0
        })
    }

    /// A canonical decimal i64, as Verge accepts it: optional `-`, no `+`, no leading zeros,
    /// no `-0`, no spaces.
    fn parse_counter(v: &[u8]) -> Option<i64> {
        let digits = v.strip_prefix(b"-").unwrap_or(v);
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && v != b"-0";
        if !canonical {
            return None;
        }
        std::str::from_utf8(v).ok()?.parse::<i64>().ok()
    }

    pub fn kv_compare_and_swap(store: i32, key: &[u8], expected: Option<&[u8]>, new: &[u8]) -> i32 {
        if new.len() > MAX_VALUE {
            return LIMIT_EXCEEDED;
        }
        with_store(store, KvOp::CompareAndSwap, key, |e| {
            if e.get(key).map(|v| v.as_slice()) != expected {
                return CONFLICT;
            }
            e.insert(key.to_vec(), new.to_vec());
            0
        })
    }

    pub fn kv_list_keys(store: i32, prefix: &[u8], after: &[u8], out: &mut [u8]) -> i32 {
        let limit = current().state().page_limit.unwrap_or(1000);
        with_store(store, KvOp::ListKeys, prefix, |e| {
            let mut written = 0usize;
            for (count, key) in e
                .keys()
                .filter(|k| k.starts_with(prefix) && (after.is_empty() || k.as_slice() > after))
                .enumerate()
            {
                let record = 4 + key.len();
                if count == limit {
                    break;
                }
                if written + record > out.len() {
                    if count == 0 {
                        return record as i32;
                    }
                    break;
                }
                out[written..written + 4].copy_from_slice(&(key.len() as u32).to_le_bytes());
                out[written + 4..written + record].copy_from_slice(key);
                written += record;
            }
            written as i32
        })
    }

    pub fn http_send(method: &[u8], url: &[u8], headers: &[u8], body: &[u8]) -> i32 {
        let (method, url, headers) = match (
            std::str::from_utf8(method),
            std::str::from_utf8(url),
            std::str::from_utf8(headers),
        ) {
            (Ok(m), Ok(u), Ok(h)) => (m, u, h),
            _ => return INVALID_ARGUMENT,
        };
        if method.is_empty() || !(url.starts_with("http://") || url.starts_with("https://")) {
            return INVALID_ARGUMENT;
        }
        let mut parsed = Vec::new();
        for line in headers.split('\n').filter(|l| !l.is_empty()) {
            match line.split_once(':') {
                Some((n, v)) if !n.is_empty() && !line.contains('\r') => {
                    parsed.push((n.to_string(), v.trim_start().to_string()))
                }
                _ => return INVALID_ARGUMENT,
            }
        }
        let request = HttpRequest { method: method.to_string(), url: url.to_string(), headers: parsed, body: body.to_vec() };
        let host = current();
        let mut st = host.state();
        st.sent.push(request.clone());
        let mut handler = match st.http.take() {
            Some(h) => h,
            None => return ACCESS_DENIED,
        };
        drop(st);
        let result = handler(&request);
        let mut st = host.state();
        if st.http.is_none() {
            st.http = Some(handler);
        }
        match result {
            Ok(mut response) => {
                for h in response.headers.iter_mut() {
                    h.0 = h.0.to_ascii_lowercase();
                }
                let handle = st.next_response;
                st.next_response += 1;
                st.responses.insert(handle, response);
                handle
            }
            Err(e) => e.code(),
        }
    }

    fn with_response<F: FnOnce(&HttpResponse) -> i32>(response: i32, f: F) -> i32 {
        let host = current();
        let st = host.state();
        match st.responses.get(&response) {
            Some(r) => f(r),
            None => NOT_FOUND,
        }
    }

    pub fn http_response_status(response: i32) -> i32 {
        with_response(response, |r| r.status as i32)
    }

    pub fn http_response_headers(response: i32, out: &mut [u8]) -> i32 {
        with_response(response, |r| {
            let text: Vec<String> = r.headers.iter().map(|(n, v)| format!("{}: {}", n, v)).collect();
            put(text.join("\n").as_bytes(), out)
        })
    }

    pub fn http_response_body(response: i32, out: &mut [u8]) -> i32 {
        with_response(response, |r| put(&r.body, out))
    }

    pub fn http_close(response: i32) -> i32 {
        match current().state().responses.remove(&response) {
            Some(_) => 0,
            None => NOT_FOUND,
        }
    }

    pub fn variable_get(name: &[u8], out: &mut [u8]) -> i32 {
        let name = match std::str::from_utf8(name) {
            Ok(n) => n,
            Err(_) => return INVALID_ARGUMENT,
        };
        let host = current();
        let st = host.state();
        if st.denied_variables.contains(name) {
            return ACCESS_DENIED;
        }
        match st.variables.get(name) {
            Some(v) => put(v.as_bytes(), out),
            None => NOT_FOUND,
        }
    }

    pub fn pg_open(addr: &[u8]) -> i32 {
        let addr = match std::str::from_utf8(addr) {
            Ok(a) => a.to_string(),
            Err(_) => return INVALID_ARGUMENT,
        };
        let host = current();
        let mut st = host.state();
        if !addr.starts_with("postgres://") && !st.granted_databases.contains(&addr) {
            return ACCESS_DENIED;
        }
        st.pg_handles.push(addr);
        (st.pg_handles.len() - 1) as i32
    }

    /// Runs one call through the handler; a failure is kept for pg_error.
    fn pg_call(conn: i32, op: PgOp, sql: &[u8], params: &[u8]) -> Result<PgAnswer, i32> {
        let host = current();
        let mut st = host.state();
        let database = match usize::try_from(conn).ok().and_then(|i| st.pg_handles.get(i)) {
            Some(d) => d.clone(),
            None => return Err(INVALID_ARGUMENT),
        };
        let (sql, params) = match (std::str::from_utf8(sql), crate::pg::decode_params(params)) {
            (Ok(s), Ok(p)) => (s.to_string(), p),
            _ => return Err(INVALID_ARGUMENT),
        };
        let call = PgCall { database, op, sql, params };
        st.pg_calls.push(call.clone());
        let mut handler = match st.pg.take() {
            Some(h) => h,
            None => return Err(Error::Unavailable.code()),
        };
        drop(st);
        let result = handler(&call);
        let mut st = host.state();
        if st.pg.is_none() {
            st.pg = Some(handler);
        }
        match result {
            Ok(answer) => {
                st.pg_errors.remove(&conn);
                Ok(answer)
            }
            Err(e) => {
                let code = e.sqlstate.clone().unwrap_or_else(|| e.code.name().to_string());
                st.pg_errors.insert(conn, format!("{}\n{}\n{}", code, e.message, e.detail.unwrap_or_default()));
                Err(e.code.code())
            }
        }
    }

    pub fn pg_query(conn: i32, sql: &[u8], params: &[u8]) -> i32 {
        match pg_call(conn, PgOp::Query, sql, params) {
            Ok(PgAnswer::Rows(rows)) => {
                let data = rows.encode();
                let len = data.len() as i32;
                current().state().pg_results.insert(conn, data);
                len
            }
            Ok(_) => INVALID_ARGUMENT,
            Err(code) => code,
        }
    }

    pub fn pg_result(conn: i32, out: &mut [u8]) -> i32 {
        match current().state().pg_results.get(&conn) {
            Some(data) => put(data, out),
            None => NOT_FOUND,
        }
    }

    pub fn pg_execute(conn: i32, sql: &[u8], params: &[u8], out: &mut [u8; 8]) -> i32 {
        match pg_call(conn, PgOp::Execute, sql, params) {
            Ok(PgAnswer::Affected(n)) => {
                *out = n.to_le_bytes();
                0
            }
            Ok(_) => {
                *out = [0; 8];
                0
            }
            Err(code) => code,
        }
    }

    pub fn pg_begin(conn: i32) -> i32 {
        pg_call(conn, PgOp::Begin, b"", b"").map(|_| 0).unwrap_or_else(|c| c)
    }

    pub fn pg_commit(conn: i32) -> i32 {
        pg_call(conn, PgOp::Commit, b"", b"").map(|_| 0).unwrap_or_else(|c| c)
    }

    pub fn pg_rollback(conn: i32) -> i32 {
        pg_call(conn, PgOp::Rollback, b"", b"").map(|_| 0).unwrap_or_else(|c| c)
    }

    pub fn pg_error(conn: i32, out: &mut [u8]) -> i32 {
        match current().state().pg_errors.get(&conn) {
            Some(text) => put(text.as_bytes(), out),
            None => 0,
        }
    }

    pub fn pg_close(conn: i32) -> i32 {
        let host = current();
        let mut st = host.state();
        if usize::try_from(conn).ok().and_then(|i| st.pg_handles.get(i)).is_none() {
            return INVALID_ARGUMENT;
        }
        st.pg_results.remove(&conn);
        0
    }

    pub fn redis_open(target: &[u8]) -> i32 {
        let target = match std::str::from_utf8(target) {
            Ok(t) if !t.is_empty() => t.to_string(),
            _ => return INVALID_ARGUMENT,
        };
        let host = current();
        let mut st = host.state();
        if st.denied_redis.contains(&target) {
            return ACCESS_DENIED;
        }
        st.redis_handles.push(target);
        (st.redis_handles.len() - 1) as i32
    }

    pub fn redis_execute(conn: i32, command: &[u8], args: &[u8]) -> i32 {
        let host = current();
        let mut st = host.state();
        st.redis_results.remove(&conn);
        let target = match usize::try_from(conn).ok().and_then(|i| st.redis_handles.get(i)) {
            Some(t) => t.clone(),
            None => return INVALID_ARGUMENT,
        };
        let command = match std::str::from_utf8(command) {
            Ok(c) => c.to_ascii_uppercase(),
            Err(_) => return INVALID_ARGUMENT,
        };
        let mut parsed = Vec::new();
        let mut at = 0;
        while at < args.len() {
            if at + 4 > args.len() {
                return INVALID_ARGUMENT;
            }
            let len = u32::from_le_bytes([args[at], args[at + 1], args[at + 2], args[at + 3]]) as usize;
            at += 4;
            if len > args.len() - at {
                return INVALID_ARGUMENT;
            }
            parsed.push(args[at..at + len].to_vec());
            at += len;
        }
        let call = RedisCall { target, command, args: parsed };
        st.redis_calls.push(call.clone());
        let mut handler = st.redis.take();
        drop(st);
        let answer = match handler.as_mut() {
            Some(h) => h(&call),
            None => Err(Error::Unavailable),
        };
        let mut st = host.state();
        if st.redis.is_none() {
            st.redis = handler;
        }
        match answer {
            Ok(items) => {
                let encoded = crate::redis::encode_items(&items);
                let n = encoded.len() as i32;
                st.redis_results.insert(conn, encoded);
                n
            }
            Err(e) => e.code(),
        }
    }

    pub fn redis_result(conn: i32, out: &mut [u8]) -> i32 {
        match current().state().redis_results.get(&conn) {
            Some(r) => put(r, out),
            None => INVALID_ARGUMENT,
        }
    }

    pub fn log(level: i32, msg: &[u8]) -> i32 {
        if !(0..=4).contains(&level) {
            return INVALID_ARGUMENT;
        }
        let msg = match std::str::from_utf8(msg) {
            Ok(m) => m.to_string(),
            Err(_) => return INVALID_ARGUMENT,
        };
        current().state().logs.push((level, msg));
        0
    }
}
