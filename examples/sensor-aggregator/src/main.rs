//! Verge "sensor-aggregator" example: sensors POST temperature readings; the service keeps
//! per-region statistics in a key-value store, updated with compare-and-swap loops so that
//! concurrent requests lose no update, and drops repeated readings per device.
//!
//! Built on verge-sdk (sdk/rust) for the request, the response and the verge:v1 key-value
//! imports, and on serde_json from Debian's packaged crates. See README.md for the API.

mod app;
mod reading;

use verge_sdk::http::{Request, Response};

fn main() {
    let response = match Request::from_env() {
        Ok(req) => app::handle(&req),
        Err(e) => Response::json(400, verge_sdk::json::error("BAD_REQUEST", &format!("Cannot read the request: {}", e))),
    };
    // Nothing useful can be done if stdout is gone; the host sees a short response.
    let _ = response.send();
}

#[cfg(test)]
mod tests;
