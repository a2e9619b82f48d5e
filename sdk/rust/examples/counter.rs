//! A minimal handler on verge-sdk: a visit counter and a greeting from a variable.
//!
//! Build: `cargo build --release --target wasm32-wasi --example counter`
//! (from sdk/rust, with Debian's toolchain: `RUSTC=/usr/bin/rustc /usr/bin/cargo ...`), then
//! serve `target/wasm32-wasi/release/examples/counter.wasm` on a `/...` route with
//! `key_value_stores = ["default"]` and `variables = ["greeting"]`.
//!
//! - `GET /count`    -> `{"count":N}` (atomic kv increment)
//! - `GET /greeting` -> `{"greeting":"..."}` from the variable `greeting` (default "Hello")
//! - `GET /keys?prefix=p` -> `{"keys":[...]}`

use verge_sdk::http::{Request, Response};
use verge_sdk::json;
use verge_sdk::kv::Store;
use verge_sdk::{log, variables, Error};

fn store_error(e: Error) -> Response {
    if e.is_unavailable() {
        Response::json(503, json::error("STORE_UNAVAILABLE", &e.to_string())).header("retry-after", "1")
    } else {
        log::error(&format!("store: {}", e));
        Response::json(500, json::error("STORE_ERROR", &e.to_string()))
    }
}

fn handle(req: &Request) -> Response {
    if req.method() != "GET" && req.method() != "HEAD" {
        return Response::json(405, json::error("METHOD_NOT_ALLOWED", "use GET")).header("allow", "GET, HEAD");
    }
    match req.path_info() {
        "/count" => match Store::open("default").and_then(|s| s.increment("count", 1)) {
            Ok(n) => {
                log::info(&format!("count is now {}", n));
                Response::json(200, format!("{{\"count\":{}}}", n))
            }
            Err(e) => store_error(e),
        },
        "/greeting" => match variables::get_or("greeting", "Hello") {
            Ok(g) => Response::json(200, format!("{{\"greeting\":{}}}", json::string(&g))),
            Err(e) => Response::json(500, json::error("VARIABLE_ERROR", &e.to_string())),
        },
        "/keys" => {
            let prefix = req.query("prefix").unwrap_or_default();
            match Store::open("default").and_then(|s| s.list_all_keys(&prefix)) {
                Ok(keys) => {
                    let items: Vec<String> = keys.iter().map(|k| json::string(k)).collect();
                    Response::json(200, format!("{{\"keys\":[{}]}}", items.join(",")))
                }
                Err(e) => store_error(e),
            }
        }
        other => Response::json(404, json::error("NOT_FOUND", &format!("no route for {}", other))),
    }
}

fn main() {
    let response = match Request::from_env() {
        Ok(req) => handle(&req),
        Err(e) => Response::json(400, json::error("BAD_REQUEST", &e.to_string())),
    };
    let _ = response.send();
}

#[cfg(test)]
mod tests {
    use super::*;
    use verge_sdk::mock::Host;

    fn get(path: &str) -> Response {
        handle(&Request::from_parts([("REQUEST_METHOD", "GET"), ("PATH_INFO", path)], Vec::new()))
    }

    #[test]
    fn counts_and_greets() {
        let host = Host::new();
        host.install();
        assert_eq!(get("/count").body_bytes(), br#"{"count":1}"#);
        assert_eq!(get("/count").body_bytes(), br#"{"count":2}"#);
        assert_eq!(get("/greeting").body_bytes(), br#"{"greeting":"Hello"}"#);
        host.set_variable("greeting", "Hi \"there\"");
        assert_eq!(get("/greeting").body_bytes(), br#"{"greeting":"Hi \"there\""}"#);
        host.fail_kv(Error::Unavailable, None);
        let r = get("/count");
        assert_eq!(r.status_code(), 503);
        assert_eq!(r.header_value("retry-after"), Some("1"));
    }
}
