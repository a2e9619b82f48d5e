//! The cache of single users (`GET /api/users/:id`), over the key-value store `cache`. The
//! store has no expiry of its own, so each entry carries its own: `<expires at, Unix ms>\n<json>`;
//! an expired entry reads as a miss. A change to a user (DELETE) drops its entry.
//!
//! The seam for Redis: `[key_value_stores.cache]` picks the backend in verge.toml. This code
//! speaks the key-value capability, so a Redis-backed store replaces the memory one without a
//! change here (and could then keep the expiry in Redis itself).
//!
//! A cache that fails is bypassed, never an error for the client: the database answers.

use std::time::{SystemTime, UNIX_EPOCH};
use verge_sdk::kv::Store;
use verge_sdk::{log, variables};

pub const STORE: &str = "cache";
pub const DEFAULT_TTL_SECONDS: u64 = 60;

pub struct Cache {
    store: Option<Store>,
    ttl_ms: u64,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn key(id: i64) -> String {
    format!("user:{}", id)
}

impl Cache {
    /// The cache, with its TTL from the variable `cache_ttl_seconds`.
    pub fn open() -> Cache {
        let ttl = variables::get("cache_ttl_seconds").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_TTL_SECONDS);
        let store = match Store::open(STORE) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn(&format!("cache: cannot open the store, reading through to the database: {}", e));
                None
            }
        };
        Cache { store, ttl_ms: ttl * 1000 }
    }

    /// The cached JSON of user `id`, unless missing or expired.
    pub fn get(&self, id: i64) -> Option<String> {
        let store = self.store.as_ref()?;
        let entry = match store.get_string(&key(id)) {
            Ok(v) => v?,
            Err(e) => {
                log::warn(&format!("cache: get user {}: {}", id, e));
                return None;
            }
        };
        let (expires, json) = entry.split_once('\n')?;
        if expires.parse::<u64>().ok()? <= now_ms() {
            return None;
        }
        Some(json.to_string())
    }

    pub fn put(&self, id: i64, json: &str) {
        if let Some(store) = &self.store {
            if self.ttl_ms == 0 {
                return;
            }
            if let Err(e) = store.set(&key(id), format!("{}\n{}", now_ms() + self.ttl_ms, json)) {
                log::warn(&format!("cache: set user {}: {}", id, e));
            }
        }
    }

    pub fn invalidate(&self, id: i64) {
        if let Some(store) = &self.store {
            if let Err(e) = store.delete(&key(id)) {
                log::warn(&format!("cache: delete user {}: {}", id, e));
            }
        }
    }
}
