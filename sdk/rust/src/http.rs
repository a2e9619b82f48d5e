//! The incoming request and the response, over WAGI (CGI/1.1: docs/wagi.md), and outbound
//! HTTP in [`fetch`].
//!
//! ```no_run
//! use verge_sdk::http::{Request, Response};
//! let req = Request::from_env().expect("read the request");
//! let name = req.query("name").unwrap_or_else(|| "world".to_string());
//! Response::json(200, format!(r#"{{"hello":{}}}"#, verge_sdk::json::string(&name)))
//!     .send()
//!     .ok();
//! ```

use std::io::{self, Read, Write};

pub mod fetch;
pub mod next;

/// The request: the CGI environment and the body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    env: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    params: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    /// Reads the request the host passed: environment variables, and the body from stdin
    /// (`CONTENT_LENGTH` bytes; to end of input when that is missing or malformed).
    pub fn from_env() -> io::Result<Request> {
        let env: Vec<(String, String)> = std::env::vars_os()
            .map(|(k, v)| (k.to_string_lossy().into_owned(), v.to_string_lossy().into_owned()))
            .collect();
        let length = env
            .iter()
            .find(|(k, _)| k == "CONTENT_LENGTH")
            .and_then(|(_, v)| v.trim().parse::<usize>().ok());
        let body = read_body(io::stdin().lock(), length)?;
        Ok(Request::from_parts(env, body))
    }

    /// Builds a request from CGI variables and a body, as `from_env` does; for tests.
    ///
    /// ```
    /// use verge_sdk::http::Request;
    /// let req = Request::from_parts(
    ///     [("REQUEST_METHOD", "GET"), ("PATH_INFO", "/x"), ("QUERY_STRING", "a=1"), ("HTTP_X_TRACE", "t")],
    ///     Vec::new(),
    /// );
    /// assert_eq!(req.query("a").as_deref(), Some("1"));
    /// assert_eq!(req.header("x-trace"), Some("t"));
    /// ```
    pub fn from_parts<I, K, V>(env: I, body: Vec<u8>) -> Request
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let env: Vec<(String, String)> = env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let mut headers = Vec::new();
        let mut params = Vec::new();
        for (k, v) in &env {
            if let Some(name) = k.strip_prefix("HTTP_") {
                headers.push((header_name(name), v.clone()));
            } else if k == "CONTENT_TYPE" {
                headers.push(("content-type".to_string(), v.clone()));
            } else if k == "CONTENT_LENGTH" {
                headers.push(("content-length".to_string(), v.clone()));
            } else if let Some(name) = k.strip_prefix("X_VERGE_PARAM_") {
                params.push((name.to_ascii_lowercase(), v.clone()));
            }
        }
        Request { env, headers, params, body }
    }

    /// A CGI variable, e.g. `env("X_VERGE_REQUEST_ID")`.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn env_or_empty(&self, name: &str) -> &str {
        self.env(name).unwrap_or("")
    }

    /// `REQUEST_METHOD` (`"GET"` if missing).
    pub fn method(&self) -> &str {
        self.env("REQUEST_METHOD").unwrap_or("GET")
    }

    /// `SCRIPT_NAME`: the part of the path the route's fixed segments matched (raw).
    pub fn script_name(&self) -> &str {
        self.env_or_empty("SCRIPT_NAME")
    }

    /// `PATH_INFO`: the rest of the path below a `/...` route (raw, not percent-decoded).
    pub fn path_info(&self) -> &str {
        self.env_or_empty("PATH_INFO")
    }

    /// The whole path: `SCRIPT_NAME` + `PATH_INFO` (raw).
    pub fn path(&self) -> String {
        format!("{}{}", self.script_name(), self.path_info())
    }

    /// `X_MATCHED_ROUTE`: the route pattern that matched, e.g. `/regions/:region`.
    pub fn matched_route(&self) -> &str {
        self.env_or_empty("X_MATCHED_ROUTE")
    }

    /// `X_VERGE_REQUEST_ID`.
    pub fn request_id(&self) -> &str {
        self.env_or_empty("X_VERGE_REQUEST_ID")
    }

    /// `QUERY_STRING`, raw, without `?`.
    pub fn query_string(&self) -> &str {
        self.env_or_empty("QUERY_STRING")
    }

    /// The query parameters in order, names and values percent-decoded (`+` is a space).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(self.query_string())
    }

    /// The first value of query parameter `name`, percent-decoded. `Some("")` for `?name` or
    /// `?name=`.
    pub fn query(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every value of query parameter `name`.
    pub fn query_all(&self, name: &str) -> Vec<String> {
        self.query_pairs().into_iter().filter(|(k, _)| k == name).map(|(_, v)| v).collect()
    }

    /// A request header, by case-insensitive name (`-` and `_` are the same, as CGI cannot tell
    /// them apart). Repeated headers arrive joined with `, ` (cookies with `; `).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = header_name(name);
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// All request headers, names lower-case with `-` (from `HTTP_*`, plus `content-type` and
    /// `content-length`).
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// `CONTENT_TYPE`, if there is a body type.
    pub fn content_type(&self) -> Option<&str> {
        self.env("CONTENT_TYPE").filter(|v| !v.is_empty())
    }

    /// A route parameter (`:name` in the route, `X_VERGE_PARAM_NAME`), percent-decoded by the
    /// host. Case-insensitive.
    pub fn param(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body as UTF-8.
    pub fn body_str(&self) -> Result<&str, std::str::Utf8Error> {
        std::str::from_utf8(&self.body)
    }

    /// Takes the body out of the request.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }
}

/// `X_FOO_BAR` or `X-Foo-Bar` -> `x-foo-bar`.
fn header_name(name: &str) -> String {
    name.chars().map(|c| if c == '_' { '-' } else { c.to_ascii_lowercase() }).collect()
}

/// Reads the body: exactly `length` bytes if known (fewer if the input ends first), otherwise
/// everything up to the end of the input.
fn read_body<R: Read>(mut input: R, length: Option<usize>) -> io::Result<Vec<u8>> {
    match length {
        Some(n) => {
            let mut body = vec![0u8; n];
            let mut got = 0;
            while got < n {
                match input.read(&mut body[got..]) {
                    Ok(0) => break,
                    Ok(k) => got += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            }
            body.truncate(got);
            Ok(body)
        }
        None => {
            let mut body = Vec::new();
            input.read_to_end(&mut body)?;
            Ok(body)
        }
    }
}

/// Splits a raw query string into percent-decoded pairs (`+` is a space). Empty segments
/// (`a=1&&b=2`) are skipped; a segment without `=` has an empty value.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let (k, v) = s.split_once('=').unwrap_or((s, ""));
            (decode_form_component(k), decode_form_component(v))
        })
        .collect()
}

fn decode_form_component(s: &str) -> String {
    percent_decode_bytes(s.as_bytes(), true)
}

/// Percent-decodes `s` (`%41` -> `A`). Malformed escapes are kept as they are; bytes that do not
/// form UTF-8 become U+FFFD. `+` is left alone (use [`parse_query`] for form encoding).
pub fn percent_decode(s: &str) -> String {
    percent_decode_bytes(s.as_bytes(), false)
}

fn percent_decode_bytes(s: &[u8], plus_is_space: bool) -> String {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' if i + 2 < s.len() => match (hex(s[i + 1]), hex(s[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// A CGI response under construction.
///
/// ```
/// use verge_sdk::http::Response;
/// let r = Response::new(201).header("content-type", "text/plain").body("made");
/// assert_eq!(r.to_cgi(), b"status: 201 Created\ncontent-type: text/plain\n\nmade".to_vec());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response with `status`, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A response with `content-type: application/json` and `json` (already serialized) as body.
    pub fn json(status: u16, json: impl Into<Vec<u8>>) -> Response {
        Response::new(status).header("content-type", "application/json").body(json)
    }

    /// A response with `content-type: text/plain; charset=utf-8`.
    pub fn text(status: u16, text: impl Into<Vec<u8>>) -> Response {
        Response::new(status).header("content-type", "text/plain; charset=utf-8").body(text)
    }

    /// A redirect to `location`.
    pub fn redirect(status: u16, location: &str) -> Response {
        Response::new(status).header("location", location)
    }

    /// Sets the status.
    pub fn status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header. CR and LF in the name or value are replaced by spaces, so a value cannot
    /// inject header lines. Headers the host sets itself (`content-length`, `x-request-id`,
    /// hop-by-hop headers) are dropped by the host.
    pub fn header(mut self, name: &str, value: &str) -> Response {
        let clean = |s: &str| s.replace(|c| c == '\r' || c == '\n', " ");
        self.headers.push((clean(name), clean(value)));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status_code(&self) -> u16 {
        self.status
    }

    /// The headers added so far.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first header named `name` (case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body
    }

    /// The response as the CGI bytes `send` writes: `status: NNN Reason`, the headers, a blank
    /// line, the body.
    pub fn to_cgi(&self) -> Vec<u8> {
        let mut head = match reason_phrase(self.status) {
            "" => format!("status: {}\n", self.status),
            reason => format!("status: {} {}\n", self.status, reason),
        };
        for (k, v) in &self.headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push('\n');
        }
        head.push('\n');
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Writes the response to stdout for the host.
    pub fn send(self) -> io::Result<()> {
        let mut out = io::stdout().lock();
        out.write_all(&self.to_cgi())?;
        out.flush()
    }
}

/// The standard reason phrase for `status` (`""` for codes without one).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(env: &[(&str, &str)]) -> Request {
        Request::from_parts(env.iter().copied(), Vec::new())
    }

    #[test]
    fn reads_cgi_variables() {
        let r = req(&[
            ("REQUEST_METHOD", "POST"),
            ("SCRIPT_NAME", "/api"),
            ("PATH_INFO", "/users/7"),
            ("X_MATCHED_ROUTE", "/api/..."),
            ("X_VERGE_REQUEST_ID", "abc"),
            ("CONTENT_TYPE", "application/json"),
            ("CONTENT_LENGTH", "0"),
            ("HTTP_X_FORWARDED_FOR", "1.2.3.4"),
            ("HTTP_ACCEPT", "*/*"),
            ("X_VERGE_PARAM_REGION", "eu west"),
        ]);
        assert_eq!(r.method(), "POST");
        assert_eq!(r.script_name(), "/api");
        assert_eq!(r.path_info(), "/users/7");
        assert_eq!(r.path(), "/api/users/7");
        assert_eq!(r.matched_route(), "/api/...");
        assert_eq!(r.request_id(), "abc");
        assert_eq!(r.header("X-Forwarded-For"), Some("1.2.3.4"));
        assert_eq!(r.header("x_forwarded_for"), Some("1.2.3.4"));
        assert_eq!(r.header("accept"), Some("*/*"));
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.content_type(), Some("application/json"));
        assert_eq!(r.header("missing"), None);
        assert_eq!(r.param("region"), Some("eu west"));
        assert_eq!(r.param("REGION"), Some("eu west"));
        assert_eq!(r.param("other"), None);
        assert_eq!(req(&[]).method(), "GET");
    }

    #[test]
    fn decodes_query_parameters() {
        let r = req(&[("QUERY_STRING", "a=1&b=hello+world&c=%E2%82%AC%2B&d&e=&a=2&&f=100%&g=%zz&h%20i=j")]);
        assert_eq!(r.query("a").as_deref(), Some("1"));
        assert_eq!(r.query_all("a"), vec!["1", "2"]);
        assert_eq!(r.query("b").as_deref(), Some("hello world"));
        assert_eq!(r.query("c").as_deref(), Some("€+"));
        assert_eq!(r.query("d").as_deref(), Some(""));
        assert_eq!(r.query("e").as_deref(), Some(""));
        assert_eq!(r.query("f").as_deref(), Some("100%"));
        assert_eq!(r.query("g").as_deref(), Some("%zz"));
        assert_eq!(r.query("h i").as_deref(), Some("j"));
        assert_eq!(r.query("zz"), None);
        assert_eq!(percent_decode("a+b%20c%"), "a+b c%");
        assert_eq!(percent_decode("%ff%41"), "\u{fffd}A");
        assert_eq!(percent_decode("%4"), "%4");
    }

    #[test]
    fn reads_the_body_by_content_length() {
        let input: &[u8] = b"hello world";
        assert_eq!(read_body(input, Some(5)).unwrap(), b"hello");
        assert_eq!(read_body(input, Some(50)).unwrap(), b"hello world");
        assert_eq!(read_body(input, None).unwrap(), b"hello world");
        assert_eq!(read_body(input, Some(0)).unwrap(), b"");
        let r = Request::from_parts([("REQUEST_METHOD", "POST")], b"{}".to_vec());
        assert_eq!(r.body(), b"{}");
        assert_eq!(r.body_str(), Ok("{}"));
    }

    #[test]
    fn writes_cgi_responses() {
        let r = Response::json(404, r#"{"error":"NOT_FOUND"}"#).header("x-a", "1\r\nset-cookie: evil");
        assert_eq!(r.status_code(), 404);
        assert_eq!(r.header_value("Content-Type"), Some("application/json"));
        assert_eq!(
            String::from_utf8(r.to_cgi()).unwrap(),
            "status: 404 Not Found\ncontent-type: application/json\nx-a: 1  set-cookie: evil\n\n{\"error\":\"NOT_FOUND\"}"
        );
        assert_eq!(Response::new(299).to_cgi(), b"status: 299\n\n".to_vec());
        assert_eq!(Response::redirect(302, "/x").header_value("location"), Some("/x"));
        assert_eq!(Response::text(200, "hi").status(418).status_code(), 418);
    }
}
