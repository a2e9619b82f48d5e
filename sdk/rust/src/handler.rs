//! A Workers-style entry point: write `fn handle(req: Request, env: &Env) -> Result<Response>`
//! and name it in [`handler!`](crate::handler!). The request is read from the CGI environment and
//! stdin, the response written to stdout, and an `Err` answered as a JSON error (a 5xx also
//! becomes an error-level log record), the way the rest of the SDK does it.
//!
//! ```no_run
//! use verge_sdk::handler::{Env, Request, Response, Result};
//!
//! fn handle(req: Request, env: &Env) -> Result<Response> {
//!     let greeting = env.var_or("greeting", "Hello")?;
//!     let visits = env.kv("default")?.increment("visits", 1)?;
//!     verge_sdk::info!("{} {} (visit {})", req.method(), req.path(), visits);
//!     Response::ok(format!("{}, visitor {}!\n", greeting, visits))
//! }
//!
//! verge_sdk::handler!(handle);
//! ```
//!
//! With the `serde` feature, `req.json::<T>()` parses the body (a malformed body is answered 400
//! `INVALID_JSON`), `Response::from_json(&value)` answers JSON, and outbound requests and
//! responses have `json` too.

use std::fmt;

use crate::http::fetch;
pub use crate::http::{Request, Response};
use crate::json;
use crate::kv::Store;
use crate::{log, variables};

/// What a handler returns.
pub type Result<T> = std::result::Result<T, Error>;

/// An error a handler answers with: an HTTP status, a code for the body's `error` field, and a
/// message. `?` turns the SDK's errors (a 503 for `Unavailable`/`Timeout`, else a 500, the code
/// being the ABI name: `ACCESS_DENIED`), strings and common std errors (500 `HANDLER_ERROR`)
/// into one; [`Error::new`] makes one with a status of your choosing (a 400, a 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: u16,
    code: String,
    message: String,
}

impl Error {
    /// An error answered with `status` and `{"error": code, "message": message}`.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Error {
        Error { status, code: code.to_string(), message: message.into() }
    }

    /// A 500 `HANDLER_ERROR` with `message`.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(500, "HANDLER_ERROR", message)
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Says what was being done: `env.var("x").map_err(|e| e.context("reading x"))` → `reading x: ...`.
    pub fn context(mut self, what: &str) -> Error {
        self.message = format!("{}: {}", what, self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Error {
        let status = if e.is_unavailable() { 503 } else { 500 };
        Error::new(status, e.name(), e.to_string())
    }
}

impl From<String> for Error {
    fn from(message: String) -> Error {
        Error::internal(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Error {
        Error::internal(message)
    }
}

impl From<Box<dyn std::error::Error>> for Error {
    fn from(e: Box<dyn std::error::Error>) -> Error {
        Error::internal(e.to_string())
    }
}

impl From<Box<dyn std::error::Error + Send + Sync>> for Error {
    fn from(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
        Error::internal(e.to_string())
    }
}

/// Std errors a handler commonly meets, each a 500 `HANDLER_ERROR` with its message.
macro_rules! internal_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error::internal(e.to_string())
            }
        }
    )*};
}
internal_from!(
    std::io::Error,
    std::fmt::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError,
    std::str::Utf8Error,
    std::string::FromUtf8Error
);

#[cfg(feature = "serde")]
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::new(500, "JSON_ERROR", e.to_string())
    }
}

/// What the component was granted: variables, key-value stores, outbound HTTP.
#[derive(Debug, Default)]
pub struct Env {
    _private: (),
}

impl Env {
    pub fn new() -> Env {
        Env { _private: () }
    }

    /// The variable `name`. An error if it has no value (500 `VARIABLE_MISSING`) or was not
    /// granted (500 `ACCESS_DENIED`: add it to the component's `variables`).
    pub fn var(&self, name: &str) -> Result<String> {
        match variables::get(name) {
            Ok(Some(value)) => Ok(value),
            Ok(None) => Err(Error::internal(format!("the variable {} has no value", name)).with_code("VARIABLE_MISSING")),
            Err(e) => Err(Error::from(e).context(&format!("variable {}", name))),
        }
    }

    /// The variable `name`, or `default` when it has no value (not granted is still an error).
    pub fn var_or(&self, name: &str, default: &str) -> Result<String> {
        variables::get_or(name, default).map_err(|e| Error::from(e).context(&format!("variable {}", name)))
    }

    /// The key-value store `name` (granted in `key_value_stores`).
    pub fn kv(&self, name: &str) -> Result<Store> {
        Store::open(name).map_err(|e| Error::from(e).context(&format!("key-value store {}", name)))
    }

    /// Sends an outbound request (a URL alone is a GET) to a host in `allowed_outbound_hosts`.
    /// An HTTP error status is a response; `Err` means no response came (denied, timeout, network).
    pub fn fetch(&self, req: impl Into<fetch::Request>) -> Result<fetch::Response> {
        let req = req.into();
        req.send().map_err(|e| Error::from(e).context(&format!("{} {}", req.method(), req.url())))
    }
}

impl Error {
    fn with_code(mut self, code: &str) -> Error {
        self.code = code.to_string();
        self
    }
}

impl Request {
    /// The body as UTF-8 text; a body that is not is answered 400 `INVALID_UTF8`.
    pub fn text(&self) -> Result<String> {
        self.body_str().map(str::to_string).map_err(|e| Error::new(400, "INVALID_UTF8", format!("the request body is not UTF-8: {}", e)))
    }

    /// The body parsed as JSON into `T`; a body that does not parse is answered 400 `INVALID_JSON`
    /// with serde's reason.
    #[cfg(feature = "serde")]
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(self.body()).map_err(|e| Error::new(400, "INVALID_JSON", format!("the request body is not the JSON expected: {}", e)))
    }
}

impl Response {
    /// 200 with a `text/plain` body, as a handler's result.
    pub fn ok(text: impl Into<Vec<u8>>) -> Result<Response> {
        Ok(Response::text(200, text))
    }

    /// 200 with `value` serialized as the JSON body, as a handler's result; change the status
    /// with `.map(|r| r.status(201))`.
    #[cfg(feature = "serde")]
    pub fn from_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Response> {
        Ok(Response::json(200, serde_json::to_vec(value)?))
    }
}

#[cfg(feature = "serde")]
impl fetch::Request {
    /// Sets the body to `value` as JSON, and `content-type: application/json`.
    pub fn json<T: serde::Serialize + ?Sized>(self, value: &T) -> Result<fetch::Request> {
        Ok(self.header("content-type", "application/json").body(serde_json::to_vec(value)?))
    }
}

#[cfg(feature = "serde")]
impl fetch::Response {
    /// The body parsed as JSON; one that does not parse is a 502 `UPSTREAM_INVALID_JSON`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(self.body())
            .map_err(|e| Error::new(502, "UPSTREAM_INVALID_JSON", format!("the upstream answered {} with a body that is not the JSON expected: {}", self.status(), e)))
    }
}

/// The response for a handler's result: the response itself, or its error as
/// `{"error": CODE, "message": MESSAGE, "request_id": ID}` with the error's status. A 5xx is
/// also logged at error level, so the request's log says why it failed.
pub fn respond(result: Result<Response>, request_id: &str) -> Response {
    match result {
        Ok(res) => res,
        Err(e) => {
            if e.status >= 500 {
                log::error(&format!("handler failed with {} {}: {}", e.status, e.code, e.message));
            }
            let body = format!(
                "{{\"error\":{},\"message\":{},\"request_id\":{}}}",
                json::string(&e.code),
                json::string(&e.message),
                json::string(request_id)
            );
            Response::json(e.status, body)
        }
    }
}

/// Runs `handle` for the request the host passed and writes its answer: what
/// [`handler!`](crate::handler!) expands to in `main`.
pub fn serve<F>(handle: F)
where
    F: FnOnce(Request, &Env) -> Result<Response>,
{
    let response = match Request::from_env() {
        Ok(req) => {
            let id = req.request_id().to_string();
            respond(handle(req, &Env::new()), &id)
        }
        Err(e) => respond(Err(Error::new(400, "BAD_REQUEST", format!("the request body could not be read: {}", e))), ""),
    };
    // Nothing useful can be done if stdout is gone; the host sees a short response.
    let _ = response.send();
}

/// Makes `main` run a Workers-style handler, `fn(Request, &Env) -> Result<Response>`:
///
/// ```no_run
/// use verge_sdk::handler::{Env, Request, Response, Result};
/// fn handle(_req: Request, _env: &Env) -> Result<Response> {
///     Response::ok("hello\n")
/// }
/// verge_sdk::handler!(handle);
/// ```
#[macro_export]
macro_rules! handler {
    ($handle:path) => {
        fn main() {
            $crate::handler::serve($handle)
        }
    };
}

/// `info!("x = {}", x)`: a log record at info level through the host (`format!` arguments).
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&format!($($arg)*)) };
}

/// `console_log!` as in workers-rs: the same as [`info!`](crate::info!).
#[macro_export]
macro_rules! console_log {
    ($($arg:tt)*) => { $crate::log::info(&format!($($arg)*)) };
}

/// `debug!(...)`: a log record at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&format!($($arg)*)) };
}

/// `warn!(...)`: a log record at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&format!($($arg)*)) };
}

/// `error!(...)`: a log record at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Host, HttpResponse};

    fn request(body: &str) -> Request {
        Request::from_parts(
            [("REQUEST_METHOD", "POST"), ("SCRIPT_NAME", "/greet"), ("PATH_INFO", ""), ("X_VERGE_REQUEST_ID", "r1"), ("HTTP_X_A", "b")],
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn an_ok_result_is_the_response() {
        let host = Host::new();
        host.install();
        let res = respond(Response::ok("hi"), "r1");
        assert_eq!(res.status_code(), 200);
        assert_eq!(res.body_bytes(), b"hi");
        assert!(host.logs().is_empty());
    }

    #[test]
    fn an_err_is_answered_500_json_with_its_message_and_logged() {
        let host = Host::new();
        host.install();
        let res = respond(Err("the upstream said no".into()), "r1");
        assert_eq!(res.status_code(), 500);
        assert_eq!(res.header_value("content-type"), Some("application/json"));
        assert_eq!(
            String::from_utf8(res.body_bytes().to_vec()).unwrap(),
            r#"{"error":"HANDLER_ERROR","message":"the upstream said no","request_id":"r1"}"#
        );
        let logs = host.logs();
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].0, 4, "error level");
        assert_eq!(logs[0].1, "handler failed with 500 HANDLER_ERROR: the upstream said no");
    }

    #[test]
    fn a_client_error_keeps_its_status_and_is_not_logged() {
        let host = Host::new();
        host.install();
        let res = respond(Err(Error::new(404, "NO_SUCH_USER", "no user 7")), "r1");
        assert_eq!(res.status_code(), 404);
        assert!(host.logs().is_empty());
    }

    #[test]
    fn sdk_errors_keep_their_abi_name_and_unavailable_is_503() {
        let host = Host::new();
        host.install().grant_stores(&["other"]);
        let env = Env::new();
        let denied = env.kv("default").unwrap_err();
        assert_eq!((denied.status(), denied.code()), (500, "ACCESS_DENIED"));
        assert!(denied.message().starts_with("key-value store default: ACCESS_DENIED"), "{}", denied.message());
        assert_eq!(Error::from(crate::Error::Unavailable).status(), 503);
    }

    #[test]
    fn env_reads_variables_and_says_which_is_missing() {
        let host = Host::new();
        host.install().set_variable("api_url", "http://up.example/v1");
        let env = Env::new();
        assert_eq!(env.var("api_url").unwrap(), "http://up.example/v1");
        let missing = env.var("nope").unwrap_err();
        assert_eq!(missing.code(), "VARIABLE_MISSING");
        assert_eq!(missing.message(), "the variable nope has no value");
        assert_eq!(env.var_or("nope", "d").unwrap(), "d");
    }

    #[test]
    fn env_fetches_a_url_as_a_get() {
        let host = Host::new();
        host.install().on_http(|req| Ok(HttpResponse { status: 200, headers: vec![], body: req.url.as_bytes().to_vec() }));
        let res = Env::new().fetch("https://up.example/a").unwrap();
        assert_eq!(res.text(), "https://up.example/a");
        assert_eq!(host.sent_requests()[0].method, "GET");
        host.on_http(|_| Err(crate::Error::Timeout));
        let e = Env::new().fetch("https://up.example/a").unwrap_err();
        assert_eq!((e.status(), e.code()), (503, "TIMEOUT"));
        assert!(e.message().starts_with("GET https://up.example/a: TIMEOUT"), "{}", e.message());
    }

    #[test]
    fn requests_read_as_text() {
        let req = request("héllo");
        assert_eq!(req.text().unwrap(), "héllo");
        assert_eq!(req.method(), "POST");
        assert_eq!(req.path(), "/greet");
        assert_eq!(req.header("X-A"), Some("b"));
        let bad = Request::from_parts(Vec::<(String, String)>::new(), vec![0xff]);
        assert_eq!(bad.text().unwrap_err().status(), 400);
    }

    #[test]
    fn logging_macros_format_through_the_host() {
        let host = Host::new();
        host.install();
        crate::info!("a {}", 1);
        crate::console_log!("b");
        crate::debug!("c");
        crate::warn!("d {:?}", "x");
        crate::error!("e");
        let logs: Vec<(i32, String)> = host.logs();
        assert_eq!(logs, vec![(2, "a 1".to_string()), (2, "b".to_string()), (1, "c".to_string()), (3, "d \"x\"".to_string()), (4, "e".to_string())]);
    }

    #[cfg(feature = "serde")]
    mod json {
        use super::*;
        use serde::{Deserialize, Serialize};

        #[derive(Deserialize, Serialize, Debug, PartialEq)]
        struct Input {
            name: String,
        }

        #[test]
        fn parses_json_bodies_and_answers_bad_ones_400() {
            assert_eq!(request(r#"{"name":"Ada"}"#).json::<Input>().unwrap(), Input { name: "Ada".into() });
            let bad = request(r#"{"nom":"Ada"}"#).json::<Input>().unwrap_err();
            assert_eq!((bad.status(), bad.code()), (400, "INVALID_JSON"));
            assert!(bad.message().contains("missing field `name`"), "{}", bad.message());
        }

        #[test]
        fn answers_json() {
            let res = Response::from_json(&Input { name: "Ada".into() }).unwrap();
            assert_eq!(res.status_code(), 200);
            assert_eq!(res.header_value("content-type"), Some("application/json"));
            assert_eq!(res.body_bytes(), br#"{"name":"Ada"}"#);
        }

        #[test]
        fn sends_and_reads_json_upstream() {
            let host = Host::new();
            host.install().on_http(|req| Ok(HttpResponse { status: 200, headers: vec![], body: req.body.clone() }));
            let req = fetch::Request::post("https://up.example/").json(&Input { name: "Ada".into() }).unwrap();
            let res = Env::new().fetch(req).unwrap();
            assert_eq!(res.json::<Input>().unwrap().name, "Ada");
            assert_eq!(host.sent_requests()[0].headers, vec![("content-type".to_string(), "application/json".to_string())]);
            assert_eq!(res.json::<Vec<u8>>().unwrap_err().status(), 502);
        }
    }
}
