//! A handler on `verge_sdk::redis`: the connection `cache` (a `[redis.cache]` granted with
//! `redis = ["cache"]`), used for a counter, a value with a time to live, a set and a message.
//!
//! Build: `cargo build --release --target wasm32-wasi --example redis` (from sdk/rust).
//!
//! - `GET /visits` -> `{"visits":N}` (`INCR`)
//! - `GET /remember?key=k&value=v` -> `{"value":"v","ttl":60}` (`SET ... EX 60`, `GET`, `TTL`)
//! - `GET /tags?add=a,b` -> `{"added":N,"tags":[...]}` (`SADD`, `SMEMBERS`, sorted)
//! - `GET /announce?message=m` -> `{"receivers":N}` (`PUBLISH` on `events`)
//! - `GET /flush` -> 403 with the error: `FLUSHALL` is not on the allow-list

use verge_sdk::http::{Request, Response};
use verge_sdk::json;
use verge_sdk::redis::{Connection, Value};
use verge_sdk::Error;

fn failed(e: Error) -> Response {
    let status = match e {
        Error::AccessDenied => 403,
        Error::Unavailable | Error::Timeout => 503,
        _ => 500,
    };
    Response::json(status, json::error(e.name(), &e.to_string()))
}

fn handle(req: &Request) -> Result<Response, Error> {
    let cache = Connection::open("cache")?;
    Ok(match req.path_info() {
        "/visits" => Response::json(200, format!("{{\"visits\":{}}}", cache.incr("visits")?)),
        "/remember" => {
            let key = req.query("key").unwrap_or_default();
            cache.set_ex(&key, req.query("value").unwrap_or_default().as_bytes(), 60)?;
            let value = String::from_utf8_lossy(&cache.get(&key)?.unwrap_or_default()).into_owned();
            let ttl = match cache.execute("TTL", &[key.as_str()])?.first() {
                Some(Value::Int(n)) => *n,
                _ => -1,
            };
            Response::json(200, format!("{{\"value\":{},\"ttl\":{}}}", json::string(&value), ttl))
        }
        "/tags" => {
            let add = req.query("add").unwrap_or_default();
            let members: Vec<&str> = add.split(',').filter(|m| !m.is_empty()).collect();
            let added = cache.sadd("tags", &members)?;
            let mut tags: Vec<String> = cache.smembers("tags")?.into_iter().map(|m| json::string(&String::from_utf8_lossy(&m))).collect();
            tags.sort();
            Response::json(200, format!("{{\"added\":{},\"tags\":[{}]}}", added, tags.join(",")))
        }
        "/announce" => {
            let n = cache.publish("events", req.query("message").unwrap_or_default().as_bytes())?;
            Response::json(200, format!("{{\"receivers\":{}}}", n))
        }
        "/flush" => {
            cache.execute("FLUSHALL", &[] as &[&str])?;
            Response::json(200, "{}")
        }
        other => Response::json(404, json::error("NOT_FOUND", &format!("no route for {}", other))),
    })
}

fn main() {
    let response = match Request::from_env() {
        Ok(req) => handle(&req).unwrap_or_else(failed),
        Err(e) => Response::json(400, json::error("BAD_REQUEST", &e.to_string())),
    };
    let _ = response.send();
}
