//! users: a small users API behind the auth middleware (`/users/...`, `middleware = ["auth"]`).
//! It knows the caller only from the `x-verified-*` headers the middleware sets; a request the
//! middleware refuses never reaches it.
//!
//!   GET /users/me   the caller's subject, scopes and profile
//!   PUT /users/me   replaces the profile (a JSON object); needs the scope `profile:write`
//!
//! Every run counts itself first (`runs` in the store): the example's tests read that counter
//! through the admin API to show that refused requests never ran this handler.

use composed_services::{error, serve, verified};
use serde_json::{json, Value};
use verge_sdk::http::{Request, Response};
use verge_sdk::kv::Store;
use verge_sdk::{log, Error};

const STORE: &str = "users";
const MAX_PROFILE_BYTES: usize = 4096;
const WRITE_SCOPE: &str = "profile:write";

fn store_failed(e: Error) -> Response {
    if e.is_unavailable() {
        error(503, "STORE_UNAVAILABLE", &e.to_string()).header("retry-after", "1")
    } else {
        error(500, "STORE_ERROR", &e.to_string())
    }
}

fn handle(req: &Request) -> Response {
    let store = match Store::open(STORE) {
        Ok(s) => s,
        Err(e) => return store_failed(e),
    };
    let runs = match store.increment("runs", 1) {
        Ok(n) => n,
        Err(e) => return store_failed(e),
    };
    let who = match verified(req) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    log::info(&format!("users: {} {} for {}", req.method(), req.path(), who.subject));
    let key = format!("profile:{}", who.subject);
    match (req.method(), req.path_info()) {
        ("GET", "/me") => match store.get(&key) {
            Ok(stored) => {
                let profile = stored.and_then(|b| serde_json::from_slice::<Value>(&b).ok()).unwrap_or(Value::Null);
                Response::json(200, json!({ "subject": who.subject, "scopes": who.scopes, "profile": profile, "runs": runs }).to_string())
            }
            Err(e) => store_failed(e),
        },
        ("PUT", "/me") => {
            if !who.has_scope(WRITE_SCOPE) {
                return error(403, "INSUFFICIENT_SCOPE", &format!("changing a profile needs the scope {}", WRITE_SCOPE));
            }
            if req.body().len() > MAX_PROFILE_BYTES {
                return error(413, "PAYLOAD_TOO_LARGE", &format!("a profile is at most {} bytes", MAX_PROFILE_BYTES));
            }
            let profile = match serde_json::from_slice::<Value>(req.body()) {
                Ok(v @ Value::Object(_)) => v,
                _ => return error(400, "BAD_REQUEST", "expected a JSON object"),
            };
            match store.set(&key, profile.to_string()) {
                Ok(()) => Response::json(200, json!({ "subject": who.subject, "profile": profile }).to_string()),
                Err(e) => store_failed(e),
            }
        }
        (_, "/me") => error(405, "METHOD_NOT_ALLOWED", "/users/me takes GET or PUT").header("allow", "GET, PUT"),
        (_, path) => error(404, "NOT_FOUND", &format!("no /users{}: try /users/me", path)),
    }
}

fn main() {
    serve(handle);
}
