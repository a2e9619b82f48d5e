//! Middleware (docs/composition.md): a route's middleware passes its request on by calling
//! `http://next.verge.internal`, which runs what comes after it on the route, and answers with
//! what it likes — that response, changed or not, or one of its own (a 401, a 429, a cached page).
//!
//! ```no_run
//! use verge_sdk::http::{next, Request, Response};
//! let req = Request::from_env().expect("request");
//! let response = if req.header("authorization").is_none() {
//!     Response::text(401, "sign in\n").header("www-authenticate", "Bearer")
//! } else {
//!     match next::request(&req, &["cookie"]).header("x-user", "ada").send() {
//!         Ok(passed) => next::relay(&passed, &["x-internal"]).header("x-served-by", "gate"),
//!         Err(e) => Response::json(502, verge_sdk::json::error("NEXT_FAILED", &e.to_string())),
//!     }
//! };
//! response.send().ok();
//! ```

use super::fetch::{Request as FetchRequest, Response as FetchResponse};
use super::{Request, Response};
use crate::error::Result;

/// Where a middleware passes its request on.
pub const NEXT_ORIGIN: &str = "http://next.verge.internal";

/// Headers Verge frames itself: an outbound request may not carry them (docs/manifest.md).
const NOT_FORWARDED: &[&str] = &["host", "connection", "content-length", "transfer-encoding", "upgrade", "te", "trailer", "keep-alive", "expect", "http2-settings"];
/// What the ingress sets on every response itself.
const NOT_RELAYED: &[&str] = &["content-length", "transfer-encoding", "connection", "x-request-id"];

fn listed(name: &str, list: &[&str], without: &[&str]) -> bool {
    let name = name.to_ascii_lowercase();
    list.contains(&name.as_str()) || name.starts_with("proxy-") || without.iter().any(|w| w.eq_ignore_ascii_case(&name))
}

/// The incoming request as a request to what comes next: its method, path and query
/// (`REQUEST_URI`), headers and body. Headers named in `without` stay behind; add more with
/// `.header()`, or replace the body, before `send()`.
pub fn request(req: &Request, without: &[&str]) -> FetchRequest {
    let target = match req.env("REQUEST_URI") {
        Some(uri) => uri.to_string(),
        None if req.query_string().is_empty() => req.path(),
        None => format!("{}?{}", req.path(), req.query_string()),
    };
    let mut next = FetchRequest::new(req.method(), &format!("{}{}", NEXT_ORIGIN, target));
    for (name, value) in req.headers() {
        if !listed(name, NOT_FORWARDED, without) {
            next = next.header(name, value);
        }
    }
    next.body(req.body().to_vec())
}

/// Passes the request on unchanged; the response is what came back.
pub fn call(req: &Request) -> Result<FetchResponse> {
    request(req, &[]).send()
}

/// A response carrying what `res` carried (status, headers but those in `without`, body), to
/// change and send.
pub fn relay(res: &FetchResponse, without: &[&str]) -> Response {
    let mut out = Response::new(res.status());
    for (name, value) in res.headers() {
        if !listed(name, NOT_RELAYED, without) {
            out = out.header(name, value);
        }
    }
    out.body(res.body().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Host, HttpResponse};

    fn incoming() -> Request {
        Request::from_parts(
            vec![
                ("REQUEST_METHOD", "POST"),
                ("REQUEST_URI", "/api/users/7?full=1"),
                ("SCRIPT_NAME", "/api"),
                ("PATH_INFO", "/users/7"),
                ("QUERY_STRING", "full=1"),
                ("HTTP_HOST", "api.example.com"),
                ("HTTP_CONNECTION", "keep-alive"),
                ("HTTP_COOKIE", "session=s"),
                ("HTTP_X_TRACE", "t"),
                ("CONTENT_TYPE", "text/plain"),
                ("CONTENT_LENGTH", "5"),
            ],
            b"hello".to_vec(),
        )
    }

    #[test]
    fn passes_the_request_on_to_next_without_the_headers_verge_frames_or_those_left_behind() {
        let host = Host::new();
        host.install().on_http(|_| Ok(HttpResponse { status: 200, headers: vec![], body: vec![] }));
        request(&incoming(), &["Cookie"]).header("x-user", "ada").send().unwrap();
        let sent = host.sent_requests();
        assert_eq!(sent[0].method, "POST");
        assert_eq!(sent[0].url, "http://next.verge.internal/api/users/7?full=1");
        assert_eq!(
            sent[0].headers,
            vec![("x-trace".to_string(), "t".to_string()), ("content-type".to_string(), "text/plain".to_string()), ("x-user".to_string(), "ada".to_string())]
        );
        assert_eq!(sent[0].body, b"hello");
    }

    #[test]
    fn relays_the_answer_without_the_headers_the_ingress_sets_or_those_left_behind() {
        let host = Host::new();
        host.install().on_http(|_| {
            Ok(HttpResponse {
                status: 404,
                headers: vec![("x-request-id".into(), "r".into()), ("content-type".into(), "text/plain".into()), ("x-internal".into(), "1".into())],
                body: b"nope".to_vec(),
            })
        });
        let out = relay(&call(&incoming()).unwrap(), &["X-Internal"]);
        assert_eq!(out.status_code(), 404);
        assert_eq!(out.headers(), &[("content-type".to_string(), "text/plain".to_string())]);
        assert_eq!(out.body_bytes(), b"nope");
    }
}
