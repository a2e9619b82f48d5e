//! The handler: parameters, input (body or upstream fetch), the guards, the etag, the resize.

use verge_sdk::http::fetch;
use verge_sdk::http::{Request, Response};
use verge_sdk::json;
use verge_sdk::{variables, Error};

use crate::imaging::{self, Format};
use crate::sha256::{hex, Sha256};

/// Largest input accepted, the same as `limits.max_request_bytes` in verge.toml (which answers
/// 413 at the ingress for a body); checked here for the fetched image.
pub const MAX_INPUT_BYTES: usize = 10 * 1024 * 1024;
pub const MAX_WIDTH: u32 = 4096;
pub const DEFAULT_QUALITY: u8 = 85;
/// Used when the `max_megapixels` variable has no value.
pub const DEFAULT_MAX_MEGAPIXELS: f64 = 40.0;
pub const CACHE_CONTROL: &str = "public, max-age=86400";
/// Decode JPEGs at 1/2, 1/4 or 1/8 scale when the result stays at least twice the output size.
pub const JPEG_SHRINK_ON_LOAD: bool = true;
/// Bumped whenever the output for the same input and parameters could change, so old etags
/// stop matching.
const ETAG_VERSION: &str = "v3";

/// An error answer: status, code, message, and the parameter at fault for 400s.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    pub parameter: Option<&'static str>,
}

fn fail(status: u16, code: &'static str, message: impl Into<String>) -> Failure {
    Failure { status, code, message: message.into(), parameter: None }
}

fn bad_param(parameter: &'static str, message: impl Into<String>) -> Failure {
    Failure { status: 400, code: "INVALID_PARAMETER", message: message.into(), parameter: Some(parameter) }
}

impl Failure {
    pub fn response(&self) -> Response {
        let body = match self.parameter {
            Some(p) => format!(
                "{{\"error\":{},\"message\":{},\"parameter\":{}}}",
                json::string(self.code),
                json::string(&self.message),
                json::string(p)
            ),
            None => json::error(self.code, &self.message),
        };
        let r = Response::json(self.status, body);
        if self.status == 405 {
            r.header("allow", "GET, POST")
        } else {
            r
        }
    }
}

/// The parsed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub width: u32,
    pub format: Format,
    pub quality: u8,
    pub url: Option<String>,
}

fn int_in(req: &Request, name: &'static str, min: u32, max: u32) -> Result<Option<u32>, Failure> {
    let value = match req.query(name) {
        None => return Ok(None),
        Some(v) => v,
    };
    let ok = !value.is_empty() && value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(n) if ok && n >= min && n <= max => Ok(Some(n)),
        _ => Err(bad_param(name, format!("{} must be an integer from {} to {}, got {}", name, min, max, json::string(&value)))),
    }
}

pub fn parse_params(req: &Request) -> Result<Params, Failure> {
    let width = int_in(req, "width", 1, MAX_WIDTH)?
        .ok_or_else(|| bad_param("width", format!("width is required: an integer from 1 to {}", MAX_WIDTH)))?;
    let format = match req.query("format").as_deref() {
        None | Some("jpeg") | Some("jpg") => Format::Jpeg,
        Some("png") => Format::Png,
        Some(other) => return Err(bad_param("format", format!("format must be png or jpeg, got {}", json::string(other)))),
    };
    let quality = int_in(req, "quality", 1, 100)?.map(|q| q as u8).unwrap_or(DEFAULT_QUALITY);
    let url = req.query("url");
    match (req.method(), &url) {
        ("GET", None) => return Err(bad_param("url", "url is required for GET: the absolute http(s) URL of the image")),
        ("GET", Some(u)) if !(u.starts_with("http://") || u.starts_with("https://")) => {
            return Err(bad_param("url", format!("url must be an absolute http:// or https:// URL, got {}", json::string(u))))
        }
        ("POST", Some(_)) => return Err(bad_param("url", "url is for GET; a POST carries the image as its body")),
        _ => {}
    }
    Ok(Params { width, format, quality, url })
}

/// The upstream image, mapped to this service's errors.
fn fetch_image(url: &str) -> Result<Vec<u8>, Failure> {
    let res = fetch::Request::get(url).header("accept", "image/png, image/jpeg").send().map_err(|e| match e {
        Error::Timeout => fail(504, "UPSTREAM_TIMEOUT", format!("{} did not answer in time", url)),
        Error::AccessDenied => fail(
            403,
            "UPSTREAM_NOT_ALLOWED",
            format!("fetching {} (or a redirect from it) is not allowed by allowed_outbound_hosts", url),
        ),
        Error::InvalidArgument => bad_param("url", format!("url {} was refused as a request URL", json::string(url))),
        Error::LimitExceeded => fail(413, "PAYLOAD_TOO_LARGE", format!("the image at {} is over {} bytes", url, MAX_INPUT_BYTES)),
        other => fail(502, "UPSTREAM_ERROR", format!("fetching {} failed: {}", url, other)),
    })?;
    if res.status() != 200 {
        return Err(fail(502, "UPSTREAM_STATUS", format!("{} answered {}, not 200", url, res.status())));
    }
    Ok(res.into_body())
}

fn max_pixels() -> Result<u64, Failure> {
    let raw = variables::get("max_megapixels")
        .map_err(|e| fail(500, "CONFIG", format!("reading the variable max_megapixels: {}", e)))?;
    let mp = match raw {
        None => DEFAULT_MAX_MEGAPIXELS,
        Some(s) => match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 => v,
            _ => return Err(fail(500, "CONFIG", format!("the variable max_megapixels must be a positive number, got {}", json::string(&s)))),
        },
    };
    Ok((mp * 1_000_000.0) as u64)
}

/// A strong validator: SHA-256 over the input bytes and every parameter that shapes the output.
pub fn etag(input: &[u8], p: &Params) -> String {
    let mut h = Sha256::new();
    h.update(input);
    let quality = if p.format == Format::Jpeg { p.quality } else { 0 };
    let params = format!("\0{};w={};f={};q={};s={}", ETAG_VERSION, p.width, p.format.name(), quality, JPEG_SHRINK_ON_LOAD as u8);
    h.update(params.as_bytes());
    format!("\"{}\"", &hex(&h.finish())[..32])
}

/// `if-none-match` uses the weak comparison (RFC 9110 13.1.2): `W/` is ignored; `*` matches.
pub fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

pub fn handle(req: &Request) -> Response {
    match run(req) {
        Ok(r) => r,
        Err(f) => f.response(),
    }
}

fn run(req: &Request) -> Result<Response, Failure> {
    if req.method() != "GET" && req.method() != "POST" {
        return Err(fail(405, "METHOD_NOT_ALLOWED", format!("{} is not allowed on /resize: use GET with ?url= or POST the image", req.method())));
    }
    let params = parse_params(req)?;
    let fetched;
    let input: &[u8] = match &params.url {
        Some(url) => {
            fetched = fetch_image(url)?;
            &fetched
        }
        None => req.body(),
    };
    if input.len() > MAX_INPUT_BYTES {
        return Err(fail(413, "PAYLOAD_TOO_LARGE", format!("the image is {} bytes, over the limit of {}", input.len(), MAX_INPUT_BYTES)));
    }
    if input.is_empty() {
        return Err(fail(415, "UNSUPPORTED_MEDIA_TYPE", "the image is empty: POST a PNG or JPEG body"));
    }
    let format = imaging::sniff(input)
        .ok_or_else(|| fail(415, "UNSUPPORTED_MEDIA_TYPE", "the input is not a PNG or JPEG image"))?;

    // Decompression-bomb guard: dimensions from the header only, before any pixel is decoded.
    let (w, h) = imaging::dimensions(input, format)
        .map_err(|e| fail(422, "INVALID_IMAGE", format!("the {} header cannot be read: {}", format.name(), e)))?;
    let limit = max_pixels()?;
    if w == 0 || h == 0 {
        return Err(fail(422, "INVALID_IMAGE", format!("the {} declares {}x{} pixels", format.name(), w, h)));
    }
    if u64::from(w) * u64::from(h) > limit {
        return Err(fail(
            422,
            "IMAGE_TOO_LARGE",
            format!("the image declares {}x{} pixels, over the limit of {} megapixels", w, h, limit as f64 / 1e6),
        ));
    }
    let out_w = params.width;
    let out_h = imaging::scaled_height(w, h, out_w);
    if u64::from(out_w) * u64::from(out_h) > limit {
        return Err(fail(
            422,
            "IMAGE_TOO_LARGE",
            format!("the output would be {}x{} pixels, over the limit of {} megapixels", out_w, out_h, limit as f64 / 1e6),
        ));
    }

    let tag = etag(input, &params);
    if let Some(inm) = req.header("if-none-match") {
        if none_match(inm, &tag) {
            return Ok(Response::new(304).header("etag", &tag).header("cache-control", CACHE_CONTROL));
        }
    }

    let shrink = if JPEG_SHRINK_ON_LOAD { Some((out_w, out_h)) } else { None };
    let img = imaging::decode(input, format, shrink)
        .map_err(|e| fail(422, "INVALID_IMAGE", format!("the {} cannot be decoded: {}", format.name(), e)))?;
    let resized = imaging::resize(img, out_w, out_h);
    let bytes = imaging::encode(&resized, params.format, params.quality)
        .map_err(|e| fail(500, "ENCODE_FAILED", format!("encoding {}: {}", params.format.name(), e)))?;
    Ok(Response::new(200)
        .header("content-type", params.format.mime())
        .header("cache-control", CACHE_CONTROL)
        .header("etag", &tag)
        .body(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(query: &str) -> Request {
        Request::from_parts([("REQUEST_METHOD", "GET"), ("QUERY_STRING", query)], Vec::new())
    }

    #[test]
    fn parses_and_names_the_bad_parameter() {
        let p = parse_params(&get("url=https%3A%2F%2Fx.test%2Fa.png&width=400")).unwrap();
        assert_eq!(p, Params { width: 400, format: Format::Jpeg, quality: 85, url: Some("https://x.test/a.png".into()) });
        for (q, param) in [
            ("url=https://x/a", "width"),
            ("url=https://x/a&width=0", "width"),
            ("url=https://x/a&width=4097", "width"),
            ("url=https://x/a&width=+5", "width"),
            ("url=https://x/a&width=5.0", "width"),
            ("url=https://x/a&width=99999999999", "width"),
            ("url=https://x/a&width=5&quality=0", "quality"),
            ("url=https://x/a&width=5&quality=101", "quality"),
            ("url=https://x/a&width=5&format=gif", "format"),
            ("width=5", "url"),
            ("url=ftp://x/a&width=5", "url"),
        ] {
            assert_eq!(parse_params(&get(q)).unwrap_err().parameter, Some(param), "{}", q);
        }
    }

    #[test]
    fn if_none_match_uses_weak_comparison_and_lists() {
        assert!(none_match("\"a\"", "\"a\""));
        assert!(none_match("\"b\", W/\"a\"", "\"a\""));
        assert!(none_match("*", "\"a\""));
        assert!(!none_match("\"b\"", "\"a\""));
    }

    #[test]
    fn etag_changes_with_input_and_parameters() {
        let p = Params { width: 10, format: Format::Jpeg, quality: 85, url: None };
        let a = etag(b"x", &p);
        assert!(a.starts_with('"') && a.ends_with('"') && a.len() == 34);
        assert_eq!(a, etag(b"x", &p));
        assert_ne!(a, etag(b"y", &p));
        assert_ne!(a, etag(b"x", &Params { width: 11, ..p.clone() }));
        assert_ne!(a, etag(b"x", &Params { quality: 80, ..p.clone() }));
        assert_ne!(a, etag(b"x", &Params { format: Format::Png, ..p.clone() }));
        // The URL is not part of it: the same bytes from two places are the same image.
        assert_eq!(a, etag(b"x", &Params { url: Some("https://x/".into()), ..p }));
    }
}
