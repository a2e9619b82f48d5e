//! Handler tests against verge-sdk's fake host (`cargo test`, natively): canned PostgreSQL
//! answers stand in for the database here; test/users-pg.test.ts runs the service on a real one.

use serde_json::{json, Value as Json};
use verge_sdk::http::{Request, Response};
use verge_sdk::mock::{Host, PgAnswer, PgCall, PgOp};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use verge_sdk::pg::{Column, DbError, Rows, Value};
use verge_sdk::redis::Value as RedisValue;
use verge_sdk::Error;

use crate::app::handle;
use crate::user;

fn call(method: &str, path: &str, query: &str, body: &str) -> (u16, Json, Response) {
    let req = Request::from_parts(
        [
            ("REQUEST_METHOD", method.to_string()),
            ("SCRIPT_NAME", String::new()),
            ("PATH_INFO", path.to_string()),
            ("QUERY_STRING", query.to_string()),
            ("CONTENT_LENGTH", body.len().to_string()),
        ],
        body.as_bytes().to_vec(),
    );
    let r = handle(&req);
    let v: Json = serde_json::from_slice(r.body_bytes()).unwrap_or(Json::Null);
    (r.status_code(), v, r)
}

fn user_row(id: i64, name: &str, email: &str) -> Rows {
    let columns = ["id", "name", "email", "created_at"].iter().map(|c| Column { name: c.to_string(), type_name: String::new() }).collect();
    Rows { columns, rows: vec![vec![Value::Int(id), Value::text(name), Value::text(email), Value::TimestampTz("2024-05-01T13:45:00Z".into())]] }
}

fn db_error(code: Error, sqlstate: &str) -> DbError {
    DbError { code, sqlstate: Some(sqlstate.into()), message: "from PostgreSQL".into(), detail: None }
}

fn host<F>(answer: F) -> Host
where
    F: FnMut(&PgCall) -> Result<PgAnswer, DbError> + Send + 'static,
{
    let host = Host::new();
    host.install().grant_databases(&["main"]).on_pg(answer);
    fake_redis(&host);
    host
}

/// The Redis commands the cache sends (GET, SET .. EX, DEL), over a map; TTLs are not kept.
fn fake_redis(host: &Host) -> Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> {
    let strings: Arc<Mutex<HashMap<Vec<u8>, Vec<u8>>>> = Arc::default();
    let inner = strings.clone();
    host.on_redis(move |call| {
        let mut map = inner.lock().unwrap();
        let a = &call.args;
        Ok(match call.command.as_str() {
            "GET" => vec![map.get(&a[0]).map_or(RedisValue::Nil, |v| RedisValue::Bytes(v.clone()))],
            "SET" => {
                map.insert(a[0].clone(), a[1].clone());
                vec![RedisValue::Status("OK".into())]
            }
            "DEL" => vec![RedisValue::Int(a.iter().filter(|k| map.remove(*k).is_some()).count() as i64)],
            _ => return Err(Error::InvalidArgument),
        })
    });
    strings
}

#[test]
fn validates_a_posted_user_field_by_field() {
    assert_eq!(user::parse(br#"{"name":" Ada ","email":"ada@example.com"}"#), Ok(user::NewUser { name: "Ada".into(), email: "ada@example.com".into() }));
    let problems = user::parse(br#"{"name":"","email":"not-an-email","admin":true}"#).unwrap_err();
    assert_eq!(problems.keys().cloned().collect::<Vec<_>>(), vec!["admin", "email", "name"]);
    assert!(user::parse(b"[1]").is_err());
    assert!(!user::valid_email("a@b"));
    assert!(!user::valid_email("a b@example.com"));
}

#[test]
fn creates_a_user_with_parameters_and_answers_201_with_its_location() {
    let h = host(|_: &PgCall| Ok(PgAnswer::Rows(user_row(7, "x'); DROP TABLE users; --", "ada@example.com"))));
    let (status, body, r) = call("POST", "/api/users", "", r#"{"name":"x'); DROP TABLE users; --","email":"ada@example.com"}"#);
    assert_eq!(status, 201);
    assert_eq!(r.header_value("location"), Some("/api/users/7"));
    assert_eq!(body["name"], json!("x'); DROP TABLE users; --"));
    let insert = &h.pg_calls()[0];
    assert!(insert.sql.starts_with("INSERT INTO users (name, email) VALUES ($1, $2)"));
    assert_eq!(insert.params, vec![Value::text("x'); DROP TABLE users; --"), Value::text("ada@example.com")]);
}

#[test]
fn a_taken_email_is_409() {
    let _h = host(|_: &PgCall| Err(db_error(Error::Conflict, "23505")));
    let (status, body, _) = call("POST", "/api/users", "", r#"{"name":"Ada","email":"ada@example.com"}"#);
    assert_eq!((status, body["error"].clone()), (409, json!("EMAIL_TAKEN")));
}

#[test]
fn a_missing_table_runs_the_migrations_then_the_statement_again() {
    let mut first = true;
    let h = host(move |call: &PgCall| {
        if call.sql.starts_with("SELECT id") && first {
            first = false;
            return Err(db_error(Error::InvalidArgument, "42P01"));
        }
        Ok(match call.op {
            PgOp::Query => PgAnswer::Rows(Rows::default()),
            PgOp::Execute => PgAnswer::Affected(0),
            _ => PgAnswer::Done,
        })
    });
    let (status, body, _) = call("GET", "/api/users", "limit=5", "");
    assert_eq!((status, body), (200, json!({ "users": [] })));
    let calls = h.pg_calls();
    assert_eq!(calls.iter().filter(|c| c.sql.starts_with("CREATE TABLE IF NOT EXISTS users")).count(), 1);
    assert_eq!(calls.last().unwrap().params, vec![Value::Int(5)]);
}

#[test]
fn a_user_is_cached_with_the_ttl_until_it_is_deleted() {
    let h = host(|call: &PgCall| Ok(if call.op == PgOp::Execute { PgAnswer::Affected(1) } else { PgAnswer::Rows(user_row(3, "Ada", "ada@example.com")) }));
    h.set_variable("cache_ttl_seconds", "7");
    let (_, _, first) = call("GET", "/api/users/3", "", "");
    let (_, body, second) = call("GET", "/api/users/3", "", "");
    assert_eq!((first.header_value("x-cache"), second.header_value("x-cache")), (Some("miss"), Some("hit")));
    assert_eq!(body["email"], json!("ada@example.com"));
    assert_eq!(h.pg_calls().len(), 1, "the hit did not reach the database");
    let set = h.redis_calls().into_iter().find(|c| c.command == "SET").unwrap();
    assert_eq!((set.target.as_str(), &set.args[0][..], &set.args[2..]), ("cache", &b"user:3"[..], &[b"EX".to_vec(), b"7".to_vec()][..]));
    assert_eq!(call("DELETE", "/api/users/3", "", "").0, 204);
    assert_eq!(h.redis_calls().last().unwrap().command, "DEL", "the entry went with the user");
    assert_eq!(call("GET", "/api/users/3", "", "").2.header_value("x-cache"), Some("miss"));
}

#[test]
fn a_missing_user_is_cached_as_missing_until_a_post_creates_it() {
    let h = host(|call: &PgCall| Ok(if call.sql.starts_with("INSERT") { PgAnswer::Rows(user_row(9, "Ada", "ada@example.com")) } else { PgAnswer::Rows(Rows::default()) }));
    let (status, _, first) = call("GET", "/api/users/9", "", "");
    let (_, _, second) = call("GET", "/api/users/9", "", "");
    assert_eq!((status, first.header_value("x-cache"), second.header_value("x-cache")), (404, Some("miss"), Some("hit")));
    assert_eq!(call("POST", "/api/users", "", r#"{"name":"Ada","email":"ada@example.com"}"#).0, 201);
    let del = h.redis_calls().into_iter().rev().find(|c| c.command == "DEL").unwrap();
    assert_eq!(del.args, vec![b"user:9".to_vec()]);
}

#[test]
fn a_ttl_of_zero_turns_the_cache_off_and_a_failing_cache_is_bypassed() {
    let h = host(|_: &PgCall| Ok(PgAnswer::Rows(user_row(3, "Ada", "ada@example.com"))));
    h.set_variable("cache_ttl_seconds", "0");
    assert_eq!(call("GET", "/api/users/3", "", "").2.header_value("x-cache"), Some("miss"));
    assert_eq!(call("GET", "/api/users/3", "", "").2.header_value("x-cache"), Some("miss"));
    assert!(h.redis_calls().is_empty());
    h.set_variable("cache_ttl_seconds", "60");
    h.on_redis(|_| Err(Error::Unavailable));
    assert_eq!(call("GET", "/api/users/3", "", "").0, 200);
}

#[test]
fn a_database_that_is_down_is_503_with_retry_after() {
    let _h = host(|_: &PgCall| Err(DbError { code: Error::Unavailable, sqlstate: None, message: "cannot connect".into(), detail: None }));
    let (status, body, r) = call("GET", "/api/health", "", "");
    assert_eq!((status, body["error"].clone()), (503, json!("DATABASE_UNAVAILABLE")));
    assert_eq!(r.header_value("retry-after"), Some("1"));
}

#[test]
fn limits_and_ids_are_checked_before_the_database() {
    let h = host(|_: &PgCall| Ok(PgAnswer::Done));
    assert_eq!(call("GET", "/api/users", "limit=0", "").0, 400);
    assert_eq!(call("GET", "/api/users", "limit=abc", "").0, 400);
    assert_eq!(call("GET", "/api/users/-1", "", "").0, 400);
    assert_eq!(call("PUT", "/api/users/1", "", "").0, 405);
    assert!(h.pg_calls().is_empty());
}
