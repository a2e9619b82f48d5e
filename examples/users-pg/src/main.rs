//! Verge "users-pg" example: a users JSON API in Rust on PostgreSQL. The database is named in
//! verge.toml (`[databases.main]`, its password a secret variable the guest never sees); its
//! schema is created by migrations the service runs itself the first time a table is missing;
//! single users are cached in Redis with a TTL and dropped from it when they change.
//!
//! Built on verge-sdk (sdk/rust: the request, the response, `pg`, `redis`) and serde_json from
//! Debian's packaged crates. See README.md for the API.

mod app;
mod cache;
mod db;
mod user;

use verge_sdk::http::{Request, Response};

fn main() {
    let response = match Request::from_env() {
        Ok(req) => app::handle(&req),
        Err(e) => Response::json(400, verge_sdk::json::error("BAD_REQUEST", &format!("Cannot read the request: {}", e))),
    };
    // Nothing useful can be done if stdout is gone; the host sees a short response.
    let _ = response.send();
}

#[cfg(test)]
mod tests;
