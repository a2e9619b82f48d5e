//! images: stamps an uploaded PNG or JPEG with the caller's name. Behind the auth middleware
//! (`/images/...`), it checks the upload, then calls the private `watermark` component through
//! `http://watermark.verge.internal` — a chained call, answered in-process by a fresh watermark
//! instance with its own limits — and answers with what comes back.
//!
//!   POST /images/watermark   body: a PNG or JPEG → 200 image/png, stamped

use composed_services::imaging::sniff;
use composed_services::{error, serve, verified};
use verge_sdk::http::fetch;
use verge_sdk::http::{Request, Response};

/// The watermark component's private route: reachable by chaining only.
const WATERMARK: &str = "http://watermark.verge.internal/stamp";

fn handle(req: &Request) -> Response {
    let who = match verified(req) {
        Ok(who) => who,
        Err(refused) => return refused,
    };
    match (req.method(), req.path_info()) {
        ("POST", "/watermark") => {}
        (_, "/watermark") => return error(405, "METHOD_NOT_ALLOWED", "/images/watermark takes POST").header("allow", "POST"),
        (_, path) => return error(404, "NOT_FOUND", &format!("no /images{}: try POST /images/watermark", path)),
    }
    // Refused here, before a chained call is spent on it.
    let format = match sniff(req.body()) {
        Some(f) => f,
        None => return error(415, "UNSUPPORTED_MEDIA_TYPE", "expected a PNG or JPEG body"),
    };
    let text = format!("verge:{}", who.subject);
    let stamped = fetch::Request::post(WATERMARK).header("content-type", format.mime()).header("x-watermark-text", &text).body(req.body().to_vec()).send();
    match stamped {
        Ok(res) if res.status() == 200 => Response::new(200)
            .header("content-type", "image/png")
            .header("cache-control", "private, no-store")
            .header("x-watermark", &text)
            .body(res.into_body()),
        // The watermark's own refusals (too many pixels, an undecodable image) are the caller's.
        Ok(res) if res.status() < 500 => {
            let content_type = res.header("content-type").unwrap_or("application/json").to_string();
            Response::new(res.status()).header("content-type", &content_type).body(res.into_body())
        }
        Ok(res) => error(502, "WATERMARK_FAILED", &format!("the watermark component answered {}: {}", res.status(), res.text())),
        Err(e) => error(502, "WATERMARK_FAILED", &format!("calling {}: {}", WATERMARK, e)),
    }
}

fn main() {
    serve(handle);
}
