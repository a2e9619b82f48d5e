//! What the example's Rust handlers share: serving one WAGI request, who the auth middleware
//! verified, and image sniffing and decoding (image-resize's, with its decompression-bomb guard).

use verge_sdk::http::{Request, Response};
use verge_sdk::json;

/// Sniffing, header-only dimensions and decoding, shared with examples/image-resize rather than
/// copied. Resizing and encoding are there too, unused here.
#[allow(dead_code)]
#[path = "../../../image-resize/src/imaging.rs"]
pub mod imaging;

/// image-resize's Lanczos3 resampler, which `imaging` resizes with (as `crate::resample`).
#[allow(dead_code)]
#[path = "../../../image-resize/src/resample.rs"]
mod resample;

/// image-resize's baseline JPEG encoder, which `imaging` encodes with (as `crate::jpeg`).
#[allow(dead_code)]
#[path = "../../../image-resize/src/jpeg.rs"]
mod jpeg;

/// Reads the request, answers it with `handle`, and writes the response.
pub fn serve(handle: fn(&Request) -> Response) {
    let response = match Request::from_env() {
        Ok(req) => handle(&req),
        Err(e) => Response::json(400, json::error("BAD_REQUEST", &format!("cannot read the request: {}", e))),
    };
    // Nothing useful can be done if stdout is gone; the host sees a short response.
    let _ = response.send();
}

/// The caller the auth middleware verified.
#[derive(Debug, PartialEq, Eq)]
pub struct Verified {
    pub subject: String,
    pub scopes: Vec<String>,
}

impl Verified {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// Who the auth middleware verified, from the `x-verified-*` headers it sets (after removing any
/// the client sent). A route without the middleware has none: that is a mistake in verge.toml,
/// answered 500 rather than trusting anyone.
pub fn verified(req: &Request) -> Result<Verified, Response> {
    match req.header("x-verified-subject") {
        Some(subject) if !subject.is_empty() => Ok(Verified {
            subject: subject.to_string(),
            scopes: req.header("x-verified-scopes").unwrap_or("").split(' ').filter(|s| !s.is_empty()).map(String::from).collect(),
        }),
        _ => Err(Response::json(
            500,
            json::error("MIDDLEWARE_MISSING", "this route must run the auth middleware first (middleware = [\"auth\"] in verge.toml)"),
        )),
    }
}

/// `{"error": CODE, "message": ...}` with `status`.
pub fn error(status: u16, code: &str, message: &str) -> Response {
    Response::json(status, json::error(code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> Request {
        let mut env = vec![("REQUEST_METHOD", "GET"), ("PATH_INFO", "/me")];
        env.extend_from_slice(headers);
        Request::from_parts(env, Vec::new())
    }

    #[test]
    fn reads_the_subject_and_scopes_the_middleware_verified() {
        let who = verified(&request(&[("HTTP_X_VERIFIED_SUBJECT", "ada"), ("HTTP_X_VERIFIED_SCOPES", "profile:read  profile:write")])).unwrap();
        assert_eq!(who, Verified { subject: "ada".into(), scopes: vec!["profile:read".into(), "profile:write".into()] });
        assert!(who.has_scope("profile:write"));
        assert!(!who.has_scope("admin"));
    }

    #[test]
    fn refuses_a_request_the_middleware_did_not_verify() {
        let refused = verified(&request(&[])).unwrap_err();
        assert_eq!(refused.status_code(), 500);
        assert!(String::from_utf8_lossy(refused.body_bytes()).contains("MIDDLEWARE_MISSING"));
    }
}
