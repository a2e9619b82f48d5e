//! The cache of single users (`GET /api/users/:id`), cache-aside in Redis: the connection
//! `cache` (`[redis.cache]` in verge.toml; its URL stays with the host). An entry is the user's
//! JSON, or `-` for "no such user" (so a missing id does not reach the database on every read),
//! kept `cache_ttl_seconds` by Redis itself (`SET ... EX`). A change drops the entry: DELETE,
//! and POST (the new id may have been cached as missing).
//!
//! `cache_ttl_seconds = 0` turns the cache off: no Redis call at all.
//! A cache that fails is bypassed, never an error for the client: the database answers.

use verge_sdk::redis::Connection;
use verge_sdk::{log, variables};

pub const CONNECTION: &str = "cache";
pub const DEFAULT_TTL_SECONDS: u64 = 60;
const MISSING: &[u8] = b"-";

/// What the cache knows of a user.
#[derive(Debug, PartialEq, Eq)]
pub enum Cached {
    User(String),
    Missing,
}

pub struct Cache {
    redis: Option<Connection>,
    ttl_seconds: u64,
}

fn key(id: i64) -> String {
    format!("user:{}", id)
}

impl Cache {
    /// The cache, with its TTL from the variable `cache_ttl_seconds`.
    pub fn open() -> Cache {
        let ttl_seconds = variables::get("cache_ttl_seconds").ok().flatten().and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(DEFAULT_TTL_SECONDS);
        if ttl_seconds == 0 {
            return Cache { redis: None, ttl_seconds };
        }
        let redis = match Connection::open(CONNECTION) {
            Ok(c) => Some(c),
            Err(e) => {
                log::warn(&format!("cache: cannot open redis \"{}\", reading through to the database: {}", CONNECTION, e));
                None
            }
        };
        Cache { redis, ttl_seconds }
    }

    pub fn get(&self, id: i64) -> Option<Cached> {
        let redis = self.redis.as_ref()?;
        match redis.get(&key(id)) {
            Ok(Some(v)) if v == MISSING => Some(Cached::Missing),
            Ok(Some(v)) => String::from_utf8(v).ok().map(Cached::User),
            Ok(None) => None,
            Err(e) => {
                log::warn(&format!("cache: get user {}: {}", id, e));
                None
            }
        }
    }

    pub fn put(&self, id: i64, entry: &Cached) {
        if let Some(redis) = &self.redis {
            let value = match entry {
                Cached::User(json) => json.as_bytes(),
                Cached::Missing => MISSING,
            };
            if let Err(e) = redis.set_ex(&key(id), value, self.ttl_seconds) {
                log::warn(&format!("cache: set user {}: {}", id, e));
            }
        }
    }

    pub fn invalidate(&self, id: i64) {
        if let Some(redis) = &self.redis {
            if let Err(e) = redis.del(&[&key(id)]) {
                log::warn(&format!("cache: delete user {}: {}", id, e));
            }
        }
    }
}
