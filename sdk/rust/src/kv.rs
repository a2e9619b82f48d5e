//! Key-value stores (`kv_*` in docs/abi.md).
//!
//! A component reaches the stores its manifest entry grants
//! (`key_value_stores = ["default"]`). Keys are UTF-8 strings of 1..=512 bytes; values are bytes,
//! up to 1 MiB.
//!
//! ```no_run
//! use verge_sdk::kv::Store;
//! # fn main() -> Result<(), verge_sdk::Error> {
//! let store = Store::open("default")?;
//! let visits = store.increment("visits", 1)?;
//! store.set("last-visit", visits.to_string())?;
//! if let Some(bytes) = store.get("greeting")? {
//!     println!("{}", String::from_utf8_lossy(&bytes));
//! }
//! # Ok(()) }
//! ```

use crate::error::{check, Error, Result, MALFORMED};
use crate::sys;

/// First buffer size for `kv_get`; larger values take a second call.
const GET_BUFFER: usize = 1024;
/// First buffer size for a `kv_list_keys` page.
const LIST_BUFFER: usize = 8 * 1024;

/// An open key-value store. The handle is valid until the end of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Store {
    handle: i32,
}

impl Store {
    /// Opens the store `name`. `Err(AccessDenied)` if the component was not granted it.
    pub fn open(name: &str) -> Result<Store> {
        let handle = check(sys::kv_open(name.as_bytes()))?;
        Ok(Store { handle })
    }

    /// Opens the store named `"default"`.
    pub fn open_default() -> Result<Store> {
        Store::open("default")
    }

    /// The raw handle, for code that calls the ABI itself.
    pub fn handle(&self) -> i32 {
        self.handle
    }

    /// The value of `key`, or `None` if it does not exist.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match sys::read_sized(GET_BUFFER, |out| sys::kv_get(self.handle, key.as_bytes(), out)) {
            Ok(value) => Ok(Some(value)),
            Err(-1) => Ok(None),
            Err(code) => Err(Error::from_code(code)),
        }
    }

    /// The value of `key` as UTF-8 text (invalid sequences replaced), or `None`.
    pub fn get_string(&self, key: &str) -> Result<Option<String>> {
        Ok(self.get(key)?.map(|v| String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())))
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: impl AsRef<[u8]>) -> Result<()> {
        check(sys::kv_set(self.handle, key.as_bytes(), value.as_ref())).map(|_| ())
    }

    /// Deletes `key`; `true` if it existed.
    pub fn delete(&self, key: &str) -> Result<bool> {
        check(sys::kv_delete(self.handle, key.as_bytes())).map(|n| n == 1)
    }

    /// Whether `key` exists.
    pub fn exists(&self, key: &str) -> Result<bool> {
        check(sys::kv_exists(self.handle, key.as_bytes())).map(|n| n == 1)
    }

    /// Atomically adds `delta` to the decimal integer stored at `key` (a missing key counts as
    /// 0) and returns the new value. `Err(NotANumber)` if the value is not a decimal `i64`.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64> {
        let mut out = [0u8; 8];
        check(sys::kv_increment(self.handle, key.as_bytes(), delta, &mut out))?;
        Ok(i64::from_le_bytes(out))
    }

    /// Atomically sets `key` to `new` if its current value is `expected` (`None`: if the key does
    /// not exist). `Err(Conflict)` if it is not.
    pub fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<()> {
        check(sys::kv_compare_and_swap(self.handle, key.as_bytes(), expected, new)).map(|_| ())
    }

    /// Read-modify-write with optimistic concurrency: reads `key`, calls `f` with the current
    /// value (`None` if missing), and if `f` returns `Some(new)`, writes it with
    /// compare-and-swap against the value it read. On `Conflict` (another request wrote in
    /// between) it starts over, up to `max_attempts` times in all; after that it returns
    /// `Err(Conflict)`. Any other error (e.g. `Unavailable`) is returned at once, without retry.
    ///
    /// `f` also returns a result of its own, which `update` returns from the attempt that
    /// committed (or that chose not to write, by returning `None` as the new value). `f` may
    /// run several times, so it should not have side effects.
    ///
    /// ```no_run
    /// # use verge_sdk::kv::Store;
    /// # fn main() -> Result<(), verge_sdk::Error> {
    /// # let store = Store::open("default")?;
    /// // Append to a comma-separated list, without losing concurrent appends.
    /// let len = store.update("names", 100, |old| {
    ///     let mut list = old.map(|v| v.to_vec()).unwrap_or_default();
    ///     if !list.is_empty() { list.push(b','); }
    ///     list.extend_from_slice(b"ada");
    ///     let len = list.len();
    ///     (Some(list), len)
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn update<T, F>(&self, key: &str, max_attempts: u32, mut f: F) -> Result<T>
    where
        F: FnMut(Option<&[u8]>) -> (Option<Vec<u8>>, T),
    {
        for _ in 0..max_attempts.max(1) {
            let current = self.get(key)?;
            let (new, result) = f(current.as_deref());
            let new = match new {
                Some(new) => new,
                None => return Ok(result),
            };
            match self.compare_and_swap(key, current.as_deref(), &new) {
                Ok(()) => return Ok(result),
                Err(Error::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict)
    }

    /// The keys starting with `prefix`, in byte order, fetched a page at a time as the iterator
    /// advances. Each item is a key or the error that ended the listing.
    pub fn list_keys(&self, prefix: &str) -> Keys {
        self.list_keys_after(prefix, "")
    }

    /// Like [`Store::list_keys`], starting strictly after the key `after` (`""`: from the start).
    pub fn list_keys_after(&self, prefix: &str, after: &str) -> Keys {
        Keys {
            handle: self.handle,
            prefix: prefix.as_bytes().to_vec(),
            after: after.as_bytes().to_vec(),
            page: Vec::new(),
            next: 0,
            done: false,
            buffer: LIST_BUFFER,
        }
    }

    /// All keys starting with `prefix`, in byte order (every page).
    pub fn list_all_keys(&self, prefix: &str) -> Result<Vec<String>> {
        self.list_keys(prefix).collect()
    }
}

/// Iterator over the keys of a store with a prefix; see [`Store::list_keys`].
#[derive(Debug)]
pub struct Keys {
    handle: i32,
    prefix: Vec<u8>,
    after: Vec<u8>,
    page: Vec<String>,
    next: usize,
    done: bool,
    buffer: usize,
}

impl Keys {
    /// Fetches the next page into `self.page`; false when there are no more keys.
    fn fetch(&mut self) -> Result<bool> {
        let handle = self.handle;
        let (prefix, after) = (&self.prefix, &self.after);
        // A page returns the bytes written (<= cap), 0 at the end, or, if not even the first
        // record fits, that record's length (> cap): read_sized then retries with room for it.
        let data = sys::read_sized(self.buffer, |out| sys::kv_list_keys(handle, prefix, after, out))
            .map_err(Error::from_code)?;
        if data.is_empty() {
            return Ok(false);
        }
        self.buffer = self.buffer.max(data.len());
        let keys = parse_records(&data)?;
        // Continue after the last key returned (raw bytes, in case it is not valid UTF-8).
        // (An empty key is not a valid key; continuing after it would start over.)
        let last = keys.last().filter(|k| !k.is_empty()).ok_or(Error::Other(MALFORMED))?;
        self.after = last.to_vec();
        self.page = keys.into_iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect();
        self.next = 0;
        Ok(true)
    }
}

impl Iterator for Keys {
    type Item = Result<String>;

    fn next(&mut self) -> Option<Result<String>> {
        if self.next < self.page.len() {
            self.next += 1;
            return Some(Ok(std::mem::take(&mut self.page[self.next - 1])));
        }
        if self.done {
            return None;
        }
        match self.fetch() {
            Ok(true) => self.next(),
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Splits a `kv_list_keys` page into keys: records `[len: u32 LE][key bytes]`.
pub(crate) fn parse_records(mut data: &[u8]) -> Result<Vec<&[u8]>> {
    let mut keys = Vec::new();
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(Error::Other(MALFORMED));
        }
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let rest = &data[4..];
        if len > rest.len() {
            return Err(Error::Other(MALFORMED));
        }
        keys.push(&rest[..len]);
        data = &rest[len..];
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Host, KvCall, KvOp};

    fn fresh() -> (Host, Store) {
        let host = Host::new();
        host.install();
        (host, Store::open("default").unwrap())
    }

    #[test]
    fn parses_list_records() {
        let mut page = Vec::new();
        for k in ["a", "bc", ""] {
            page.extend_from_slice(&(k.len() as u32).to_le_bytes());
            page.extend_from_slice(k.as_bytes());
        }
        let keys = parse_records(&page).unwrap();
        assert_eq!(keys, vec![&b"a"[..], &b"bc"[..], &b""[..]]);
        assert_eq!(parse_records(&page[..page.len() - 1]), Err(Error::Other(MALFORMED)));
        assert_eq!(parse_records(&[1, 0, 0]), Err(Error::Other(MALFORMED)));
        assert_eq!(parse_records(&[5, 0, 0, 0, b'x']), Err(Error::Other(MALFORMED)));
    }

    #[test]
    fn get_set_delete_exists() {
        let (_host, store) = fresh();
        assert_eq!(store.get("k").unwrap(), None);
        assert!(!store.exists("k").unwrap());
        store.set("k", "value").unwrap();
        assert_eq!(store.get("k").unwrap(), Some(b"value".to_vec()));
        assert_eq!(store.get_string("k").unwrap().as_deref(), Some("value"));
        assert!(store.exists("k").unwrap());
        assert!(store.delete("k").unwrap());
        assert!(!store.delete("k").unwrap());
    }

    #[test]
    fn get_retries_with_the_length_the_host_asks_for() {
        let (host, store) = fresh();
        let big = vec![7u8; 5000];
        store.set("big", &big).unwrap();
        assert_eq!(store.get("big").unwrap(), Some(big.clone()));

        // The value grows between the first (too small) call and the retry: still read whole.
        let bigger = vec![9u8; 9000];
        let mut gets = 0;
        let b2 = bigger.clone();
        host.on_kv(move |call: &mut KvCall| {
            if call.op == KvOp::Get {
                gets += 1;
                if gets == 2 {
                    call.entries.insert(b"big".to_vec(), b2.clone());
                }
            }
        });
        assert_eq!(store.get("big").unwrap(), Some(bigger));
    }

    #[test]
    fn open_is_denied_for_ungranted_stores() {
        let host = Host::new();
        host.install().grant_stores(&["default"]);
        assert!(Store::open("default").is_ok());
        assert_eq!(Store::open("other"), Err(Error::AccessDenied));
    }

    #[test]
    fn increment_returns_the_new_value() {
        let (host, store) = fresh();
        assert_eq!(store.increment("n", 5).unwrap(), 5);
        assert_eq!(store.increment("n", -7).unwrap(), -2);
        assert_eq!(host.kv_value("default", "n"), Some(b"-2".to_vec()));
        assert_eq!(store.increment("n", i64::MAX - 1).unwrap(), i64::MAX - 3);
        for bad in ["abc", "", "+1", "01", "-0", " 1", "1.5", "9223372036854775808"] {
            store.set("s", bad).unwrap();
            assert_eq!(store.increment("s", 1), Err(Error::NotANumber), "{:?}", bad);
        }
        store.set("max", i64::MAX.to_string()).unwrap();
        assert_eq!(store.increment("max", 1), Err(Error::NotANumber));
        assert_eq!(store.increment("max", -1).unwrap(), i64::MAX - 1);
        assert_eq!(store.increment("zero", 0).unwrap(), 0);
    }

    #[test]
    fn compare_and_swap_checks_the_expected_value() {
        let (_host, store) = fresh();
        store.compare_and_swap("k", None, b"1").unwrap();
        assert_eq!(store.compare_and_swap("k", None, b"2"), Err(Error::Conflict));
        assert_eq!(store.compare_and_swap("k", Some(b"0"), b"2"), Err(Error::Conflict));
        store.compare_and_swap("k", Some(b"1"), b"2").unwrap();
        assert_eq!(store.get("k").unwrap(), Some(b"2".to_vec()));
        // An empty value is a value, not a missing key.
        store.set("e", "").unwrap();
        assert_eq!(store.compare_and_swap("e", None, b"x"), Err(Error::Conflict));
        store.compare_and_swap("e", Some(b""), b"x").unwrap();
    }

    #[test]
    fn update_retries_on_conflict_and_loses_nothing() {
        let (host, store) = fresh();
        // A concurrent writer bumps the counter between each of the first 3 reads and the
        // compare-and-swap that follows it.
        let mut interfere = 3;
        host.on_kv(move |call: &mut KvCall| {
            if call.op == KvOp::CompareAndSwap && interfere > 0 {
                interfere -= 1;
                let n: i64 = call.entries.get(&b"n"[..]).map(|v| std::str::from_utf8(v).unwrap().parse().unwrap()).unwrap_or(0);
                call.entries.insert(b"n".to_vec(), (n + 100).to_string().into_bytes());
            }
        });
        let mut calls = 0;
        let got = store
            .update("n", 10, |old| {
                calls += 1;
                let n: i64 = old.map(|v| std::str::from_utf8(v).unwrap().parse().unwrap()).unwrap_or(0);
                (Some((n + 1).to_string().into_bytes()), n + 1)
            })
            .unwrap();
        assert_eq!(calls, 4);
        assert_eq!(got, 301);
        assert_eq!(store.get_string("n").unwrap().as_deref(), Some("301"));
    }

    #[test]
    fn update_gives_up_after_max_attempts() {
        let (host, store) = fresh();
        // Another writer changes the value right before every compare-and-swap.
        let mut writes = 0u32;
        host.on_kv(move |call: &mut KvCall| {
            if call.op == KvOp::CompareAndSwap {
                writes += 1;
                call.entries.insert(b"k".to_vec(), writes.to_string().into_bytes());
            }
        });
        let mut calls = 0;
        let r = store.update("k", 5, |_| {
            calls += 1;
            (Some(b"mine".to_vec()), ())
        });
        assert_eq!(r, Err(Error::Conflict));
        assert_eq!(calls, 5);
    }

    #[test]
    fn update_without_a_new_value_writes_nothing() {
        let (_host, store) = fresh();
        store.set("k", "v").unwrap();
        let seen = store.update("k", 3, |old| (None, old.map(|v| v.to_vec()))).unwrap();
        assert_eq!(seen, Some(b"v".to_vec()));
    }

    #[test]
    fn update_does_not_retry_unavailable() {
        let (host, store) = fresh();
        host.fail_kv(Error::Unavailable, Some(1));
        let mut calls = 0;
        let r = store.update("k", 100, |_| {
            calls += 1;
            (Some(b"x".to_vec()), ())
        });
        assert_eq!(r, Err(Error::Unavailable));
        assert_eq!(calls, 0);
        // The injected failure was for one call only.
        assert_eq!(store.update("k", 100, |_| (Some(b"x".to_vec()), ())), Ok(()));
    }

    #[test]
    fn concurrent_updates_from_threads_are_all_counted() {
        let (host, _store) = fresh();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let host = host.clone();
                std::thread::spawn(move || {
                    host.install();
                    let store = Store::open("default").unwrap();
                    for _ in 0..200 {
                        store
                            .update("n", 1000, |old| {
                                let n: u64 = old.map(|v| std::str::from_utf8(v).unwrap().parse().unwrap()).unwrap_or(0);
                                (Some((n + 1).to_string().into_bytes()), ())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(host.kv_value("default", "n"), Some(b"1600".to_vec()));
    }

    #[test]
    fn list_keys_pages_through_everything() {
        let (host, store) = fresh();
        host.set_list_page_limit(7);
        for i in 0..50 {
            store.set(&format!("item:{:03}", i), "x").unwrap();
        }
        store.set("other", "x").unwrap();
        store.set("item", "x").unwrap(); // not matched: shorter than the prefix
        let keys = store.list_all_keys("item:").unwrap();
        assert_eq!(keys.len(), 50);
        assert_eq!(keys[0], "item:000");
        assert_eq!(keys[49], "item:049");
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let after: Vec<String> = store.list_keys_after("item:", "item:045").map(|k| k.unwrap()).collect();
        assert_eq!(after, vec!["item:046", "item:047", "item:048", "item:049"]);
        assert_eq!(store.list_all_keys("nothing").unwrap(), Vec::<String>::new());
        assert_eq!(store.list_all_keys("").unwrap().len(), 52);
    }

    #[test]
    fn list_keys_grows_the_buffer_for_a_long_key() {
        let (_host, store) = fresh();
        // Keys near the 512-byte limit, more bytes in all than the first buffer holds.
        let keys: Vec<String> = (0..40).map(|i| format!("{:03}{}", i, "k".repeat(500))).collect();
        for k in &keys {
            store.set(k, "x").unwrap();
        }
        let mut it = store.list_keys("");
        it.buffer = 16; // smaller than one record: forces the "needed length" answer
        let got: Vec<String> = it.map(|k| k.unwrap()).collect();
        assert_eq!(got, keys);
    }

    #[test]
    fn list_keys_reports_errors_once() {
        let (host, store) = fresh();
        store.set("a", "1").unwrap();
        host.fail_kv(Error::Timeout, None);
        let items: Vec<Result<String>> = store.list_keys("").collect();
        assert_eq!(items, vec![Err(Error::Timeout)]);
    }

    #[test]
    fn key_limits_are_enforced() {
        let (_host, store) = fresh();
        assert_eq!(store.set("", "x"), Err(Error::LimitExceeded));
        assert_eq!(store.set(&"k".repeat(513), "x"), Err(Error::LimitExceeded));
        assert_eq!(store.set(&"k".repeat(512), "x"), Ok(()));
    }
}
