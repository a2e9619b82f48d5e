//! Verge "hello-rust" example: a WAGI guest (CGI 1.1 over WASI preview1).
//!
//! Mounted on the route `/api/...`: the host sets SCRIPT_NAME=/api and puts
//! the rest of the request path in PATH_INFO. The response goes to stdout as
//! CGI header lines, a blank line, then the body.

use std::env;
use std::io::{self, Write};

fn main() {
    let method = env::var("REQUEST_METHOD").unwrap_or_else(|_| "GET".to_string());
    let path = env::var("PATH_INFO").unwrap_or_default();

    let (status, body) = match (method.as_str(), path.as_str()) {
        ("GET", "/hello") => (200, r#"{"message":"Hello from Rust!"}"#.to_string()),
        ("GET", "/health") => (200, r#"{"status":"ok"}"#.to_string()),
        _ => {
            let script = env::var("SCRIPT_NAME").unwrap_or_default();
            let message = format!("No route for {} {}{}", method, script, path);
            (404, format!(r#"{{"error":"NOT_FOUND","message":{}}}"#, json_string(&message)))
        }
    };

    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Unknown",
    };
    let response = format!(
        "status: {} {}\ncontent-type: application/json\n\n{}",
        status, reason, body
    );
    let mut out = io::stdout().lock();
    // Nothing useful can be done if stdout is gone; the host sees a short response.
    let _ = out.write_all(response.as_bytes()).and_then(|_| out.flush());
}

/// Quotes `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
