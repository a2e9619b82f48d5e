//! Routing and the handlers. `handle` takes a request and returns a response; the host calls
//! go through verge-sdk, so the same code runs against the fake host in `cargo test`.
//!
//!   GET    /api/hello            {"message":"Hello from Wasm!"}
//!   GET    /api/health           200 {"status":"ok"} when the database answers, else 503
//!   GET    /api/users?limit=N    the first N users by id (1..=100, default 10)
//!   GET    /api/users/:id        one user (cached in Redis; x-cache: hit or miss), 404
//!   POST   /api/users            {"name","email"} → 201 + location; 400 with the fields; 409 on a taken email
//!   DELETE /api/users/:id        204, 404

use serde_json::{json, Value as Json};
use verge_sdk::http::{Request, Response};
use verge_sdk::log;
use verge_sdk::pg::{Connection, DbError, Value};

use crate::cache::{Cache, Cached};
use crate::db::{self, DATABASE};
use crate::user;

pub const DEFAULT_LIMIT: i64 = 10;
pub const MAX_LIMIT: i64 = 100;
const COLUMNS: &str = "id, name, email, created_at";

fn json(status: u16, value: &Json) -> Response {
    Response::json(status, value.to_string())
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json(status, &json!({ "error": code, "message": message }))
}

/// A database failure: 503 (retry) when it is down or busy, 500 otherwise. The client gets the
/// kind of failure, not PostgreSQL's message (which may quote data); the log gets both.
fn db_failure(what: &str, e: &DbError) -> Response {
    if e.is_unavailable() {
        log::warn(&format!("{}: database unavailable: {}", what, e));
        return error(503, "DATABASE_UNAVAILABLE", &format!("The database is unavailable ({}); retry later", e.code.name())).header("retry-after", "1");
    }
    log::error(&format!("{}: {}", what, e));
    error(500, "DATABASE_ERROR", &format!("The database refused the request ({})", e.code.name()))
}

fn open() -> Result<Connection, Response> {
    Connection::open(DATABASE).map_err(|e| db_failure("open", &e))
}

fn method_not_allowed(req: &Request, allow: &str) -> Response {
    error(405, "METHOD_NOT_ALLOWED", &format!("Method {} is not allowed here; use {}", req.method(), allow)).header("allow", allow)
}

/// Routes on the whole path (SCRIPT_NAME + PATH_INFO).
pub fn handle(req: &Request) -> Response {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').trim_end_matches('/').split('/').collect();
    let method = req.method();
    let get = matches!(method, "GET" | "HEAD");
    match segments.as_slice() {
        ["api", "hello"] if get => json(200, &json!({ "message": "Hello from Wasm!" })),
        ["api", "health"] if get => health(),
        ["api", "hello"] | ["api", "health"] => method_not_allowed(req, "GET, HEAD"),
        ["api", "users"] if get => list(req),
        ["api", "users"] if method == "POST" => create(req),
        ["api", "users"] => method_not_allowed(req, "GET, HEAD, POST"),
        ["api", "users", id] => match parse_id(id) {
            None => error(400, "INVALID_ID", "A user id is a positive integer"),
            Some(id) if get => show(id),
            Some(id) if method == "DELETE" => remove(id),
            Some(_) => method_not_allowed(req, "GET, HEAD, DELETE"),
        },
        _ => error(404, "NOT_FOUND", &format!("No route for {} {}", method, path)),
    }
}

fn parse_id(segment: &str) -> Option<i64> {
    segment.parse::<i64>().ok().filter(|id| *id > 0 && segment.bytes().all(|b| b.is_ascii_digit()))
}

fn health() -> Response {
    let checked = open().and_then(|db| db.query("SELECT 1", &[]).map_err(|e| db_failure("health", &e)));
    match checked {
        Ok(_) => json(200, &json!({ "status": "ok", "database": "ok" })),
        Err(failed) => failed,
    }
}

fn list(req: &Request) -> Response {
    let limit = match req.query("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return error(400, "INVALID_LIMIT", &format!("limit is an integer from 1 to {}", MAX_LIMIT)),
        },
    };
    let db = match open() {
        Ok(db) => db,
        Err(r) => return r,
    };
    // The statement is fixed text; the limit travels as a parameter ($1), never spliced in.
    let statement = format!("SELECT {} FROM users ORDER BY id LIMIT $1", COLUMNS);
    match db::with_schema(&db, |c| c.query(&statement, &[Value::Int(limit)])) {
        Ok(rows) => json(200, &json!({ "users": rows.iter().map(|r| user::to_json(&r)).collect::<Vec<_>>() })),
        Err(e) => db_failure("list users", &e),
    }
}

fn show(id: i64) -> Response {
    let cache = Cache::open();
    match cache.get(id) {
        Some(Cached::User(json)) => return Response::json(200, json).header("x-cache", "hit"),
        Some(Cached::Missing) => return not_found(id).header("x-cache", "hit"),
        None => {}
    }
    let db = match open() {
        Ok(db) => db,
        Err(r) => return r,
    };
    let statement = format!("SELECT {} FROM users WHERE id = $1", COLUMNS);
    match db::with_schema(&db, |c| c.query(&statement, &[Value::Int(id)])) {
        Ok(rows) => match rows.first() {
            Some(row) => {
                let body = user::to_json(&row).to_string();
                cache.put(id, &Cached::User(body.clone()));
                Response::json(200, body).header("x-cache", "miss")
            }
            None => {
                cache.put(id, &Cached::Missing);
                not_found(id).header("x-cache", "miss")
            }
        },
        Err(e) => db_failure("get user", &e),
    }
}

fn not_found(id: i64) -> Response {
    error(404, "USER_NOT_FOUND", &format!("No user {}", id))
}

fn create(req: &Request) -> Response {
    let new = match user::parse(req.body()) {
        Ok(u) => u,
        Err(fields) => return json(400, &json!({ "error": "VALIDATION_FAILED", "message": "The user is not valid", "fields": fields })),
    };
    let db = match open() {
        Ok(db) => db,
        Err(r) => return r,
    };
    let statement = format!("INSERT INTO users (name, email) VALUES ($1, $2) RETURNING {}", COLUMNS);
    match db::with_schema(&db, |c| c.query(&statement, &[Value::text(new.name.as_str()), Value::text(new.email.as_str())])) {
        Ok(rows) => match rows.first() {
            Some(row) => {
                let body = user::to_json(&row);
                // The new id may be cached as missing (a read before the insert).
                if let Some(id) = body["id"].as_i64() {
                    Cache::open().invalidate(id);
                }
                let location = format!("/api/users/{}", body["id"]);
                json(201, &body).header("location", &location)
            }
            None => error(500, "DATABASE_ERROR", "The insert returned no row"),
        },
        // The unique index on lower(email) decides, so two concurrent POSTs cannot both win.
        Err(e) if e.is_unique_violation() => error(409, "EMAIL_TAKEN", "A user with this email exists"),
        Err(e) => db_failure("create user", &e),
    }
}

fn remove(id: i64) -> Response {
    let db = match open() {
        Ok(db) => db,
        Err(r) => return r,
    };
    let deleted = db::with_schema(&db, |c| c.execute("DELETE FROM users WHERE id = $1", &[Value::Int(id)]));
    // Dropped from the cache whatever the outcome: a stale entry must not outlive a change.
    Cache::open().invalidate(id);
    match deleted {
        Ok(0) => not_found(id),
        Ok(_) => Response::new(204),
        Err(e) => db_failure("delete user", &e),
    }
}
