//! Outbound HTTP (`http_*` in docs/abi.md). Hosts must be granted in the component's
//! `allowed_outbound_hosts`. The call blocks until the whole response is buffered by the host.
//!
//! ```no_run
//! use verge_sdk::http::fetch::Request;
//! # fn main() -> Result<(), verge_sdk::Error> {
//! let res = Request::post("https://api.example.com/v1/items")
//!     .header("content-type", "application/json")
//!     .body(r#"{"name":"x"}"#)
//!     .send()?;
//! if res.status() == 201 {
//!     println!("{}", res.text());
//! }
//! # Ok(()) }
//! ```
//!
//! An HTTP error status is not an `Err`: it is the response. `Err` means the request could not
//! be made: `AccessDenied` (host not granted, or a blocked address), `InvalidArgument`,
//! `LimitExceeded`, `Timeout`, `Network`.

use crate::error::{check, Error, Result};
use crate::sys;

/// An outbound request under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// A request with `method` (e.g. `"PUT"`) to the absolute `url` (`http://` or `https://`).
    pub fn new(method: &str, url: &str) -> Request {
        Request { method: method.to_string(), url: url.to_string(), headers: Vec::new(), body: Vec::new() }
    }

    /// A `GET` request.
    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    /// A `POST` request.
    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    /// A `PUT` request.
    pub fn put(url: &str) -> Request {
        Request::new("PUT", url)
    }

    /// A `DELETE` request.
    pub fn delete(url: &str) -> Request {
        Request::new("DELETE", url)
    }

    /// Adds a header. (CR or LF in a name or value makes `send` fail with `InvalidArgument`.)
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The method.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers as the ABI takes them: `name: value` lines separated by `\n`.
    fn header_block(&self) -> String {
        let lines: Vec<String> = self.headers.iter().map(|(n, v)| format!("{}: {}", n, v)).collect();
        lines.join("\n")
    }

    /// Sends the request and reads the whole response (status, headers, body); the host's
    /// response handle is closed before this returns.
    pub fn send(&self) -> Result<Response> {
        let handle = check(sys::http_send(
            self.method.as_bytes(),
            self.url.as_bytes(),
            self.header_block().as_bytes(),
            &self.body,
        ))?;
        let result = read_response(handle);
        let _ = sys::http_close(handle);
        result
    }
}

/// A URL alone is a `GET` of it.
impl From<&str> for Request {
    fn from(url: &str) -> Request {
        Request::get(url)
    }
}

impl From<String> for Request {
    fn from(url: String) -> Request {
        Request::get(&url)
    }
}

impl From<&String> for Request {
    fn from(url: &String) -> Request {
        Request::get(url)
    }
}

fn read_response(handle: i32) -> Result<Response> {
    let status = check(sys::http_response_status(handle))?;
    let head = sys::read_sized(1024, |out| sys::http_response_headers(handle, out)).map_err(Error::from_code)?;
    let body = sys::read_sized(16 * 1024, |out| sys::http_response_body(handle, out)).map_err(Error::from_code)?;
    Ok(Response { status: status as u16, headers: parse_headers(&String::from_utf8_lossy(&head)), body })
}

/// `name: value` lines separated by `\n` (a stray `\r` is tolerated) into pairs.
fn parse_headers(text: &str) -> Vec<(String, String)> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

/// A response to an outbound request, fully read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers, names lower-case, in the order the host gave them.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every header named `name` (case-insensitive).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Takes the body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Host, HttpResponse};

    #[test]
    fn sends_and_reads_a_whole_response() {
        let host = Host::new();
        host.install().on_http(|req| {
            Ok(HttpResponse {
                status: 201,
                headers: vec![("Content-Type".into(), "text/plain".into()), ("set-cookie".into(), "a=1".into()), ("set-cookie".into(), "b=2".into())],
                body: [req.method.as_bytes(), b" ", req.url.as_bytes(), b" ", &req.body, b" ", &vec![b'x'; 40_000]].concat(),
            })
        });
        let res = Request::post("https://example.com/a?b=c")
            .header("content-type", "application/json")
            .header("x-n", "1")
            .body("{}")
            .send()
            .unwrap();
        assert_eq!(res.status(), 201);
        assert_eq!(res.header("content-type"), Some("text/plain"));
        assert_eq!(res.header_all("Set-Cookie"), vec!["a=1", "b=2"]);
        assert!(res.text().starts_with("POST https://example.com/a?b=c {} xxx"));
        assert_eq!(res.body().len(), "POST https://example.com/a?b=c {} ".len() + 40_000);
        let sent = host.sent_requests();
        assert_eq!(sent[0].headers, vec![("content-type".to_string(), "application/json".to_string()), ("x-n".to_string(), "1".to_string())]);
        assert_eq!(host.open_responses(), 0, "the handle is closed");
    }

    #[test]
    fn maps_errors() {
        let host = Host::new();
        host.install();
        assert_eq!(Request::get("https://example.com/").send(), Err(Error::AccessDenied));
        host.on_http(|_| Err(Error::Timeout));
        assert_eq!(Request::get("https://example.com/").send(), Err(Error::Timeout));
        assert_eq!(Request::get("ftp://example.com/").send(), Err(Error::InvalidArgument));
        assert_eq!(Request::get("https://example.com/").header("a", "b\r\nc: d").send(), Err(Error::InvalidArgument));
    }

    #[test]
    fn parses_header_lines() {
        assert_eq!(
            parse_headers("a: 1\nB:2\r\nc: x: y\n\nbad line\n"),
            vec![("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string()), ("c".to_string(), "x: y".to_string())]
        );
        assert!(parse_headers("").is_empty());
    }
}
