//! # verge-sdk
//!
//! A small, dependency-free SDK for Verge WAGI handlers written in Rust
//! (`wasm32-wasi` command modules):
//!
//! - [`handler`]: a Workers-style entry, `verge_sdk::handler!(handle)` with
//!   `fn handle(req: Request, env: &Env) -> Result<Response>`, and the `info!`/`warn!`/`error!`
//!   logging macros (JSON bodies through serde with the `serde` feature);
//! - [`http::Request`] / [`http::Response`]: the incoming request from the CGI environment and
//!   stdin, and the CGI response to stdout (docs/wagi.md);
//! - [`kv`]: key-value stores, including compare-and-swap and an optimistic [`kv::Store::update`]
//!   loop;
//! - [`http::fetch`]: outbound HTTP;
//! - [`http::next`]: a middleware passing its request on (docs/composition.md);
//! - [`pg`]: PostgreSQL, parameterised queries and transactions;
//! - [`variables`]: variables and secrets;
//! - [`log`]: log records through the host;
//! - [`redis`]: Redis, by a granted connection's name or an allowed address;
//! - [`Error`]: the ABI's error codes.
//!
//! Everything beyond CGI goes through the `verge:v1` host imports (docs/abi.md). On `wasm32`
//! they are real imports; on other targets they are served by the in-process fake in [`mock`],
//! so handlers can be unit-tested with a plain `cargo test`.
//!
//! ```no_run
//! use verge_sdk::{http::{Request, Response}, kv::Store, log};
//!
//! fn main() {
//!     let req = Request::from_env().expect("request");
//!     let response = match (req.method(), req.path_info()) {
//!         ("GET", "/count") => match Store::open("default").and_then(|s| s.increment("count", 1)) {
//!             Ok(n) => Response::json(200, format!(r#"{{"count":{}}}"#, n)),
//!             Err(e) if e.is_unavailable() => Response::json(503, verge_sdk::json::error("STORE_UNAVAILABLE", &e.to_string()))
//!                 .header("retry-after", "1"),
//!             Err(e) => {
//!                 log::error(&format!("count: {}", e));
//!                 Response::json(500, verge_sdk::json::error("STORE_ERROR", &e.to_string()))
//!             }
//!         },
//!         _ => Response::json(404, verge_sdk::json::error("NOT_FOUND", "no such route")),
//!     };
//!     response.send().ok();
//! }
//! ```

pub mod error;
pub mod handler;
pub mod http;
pub mod json;
pub mod kv;
pub mod log;
pub mod pg;
pub mod redis;
pub mod variables;

#[cfg(not(target_arch = "wasm32"))]
pub mod mock;

mod sys;

pub use error::{Error, Result};
