//! Verge "image-resize" example: resizes a PNG or JPEG (POSTed, or fetched from an allowed host
//! with `GET /resize?url=...`) to a width with Lanczos3, keeping the aspect ratio, and answers
//! JPEG (quality 85 by default) or PNG with a strong etag and cache-control. See README.md.
//!
//! Built on verge-sdk (sdk/rust) for the request, the response, outbound HTTP and variables,
//! and on the `image` crate (png + jpeg decoding, PNG encoding) from Debian's packaged crates;
//! the resampler (resample.rs) and the JPEG encoder (jpeg.rs) are its own.

mod app;
mod imaging;
mod jpeg;
mod resample;
mod sha256;

use verge_sdk::http::{Request, Response};

fn main() {
    let response = match Request::from_env() {
        Ok(req) => app::handle(&req),
        Err(e) => Response::json(400, verge_sdk::json::error("BAD_REQUEST", &format!("Cannot read the request: {}", e))),
    };
    let _ = response.send();
}
