//! Seed 004's edge function on Verge's Workers-style Rust handler: parse `{ "name": … }`, call the
//! upstream API whose URL is the variable `api_url`, answer JSON.
//!
//! Errors answer for themselves: a body that is not `{ "name": string }` is a 400
//! `INVALID_JSON`; an upstream that cannot be reached (not in `allowed_outbound_hosts`, down, too
//! slow) is a 500 or 503 with the reason, logged at error level.

use serde::{Deserialize, Serialize};
use verge_sdk::handler::{Env, Error, Request, Response, Result};

/// The request body.
#[derive(Deserialize)]
struct Input {
    name: String,
}

/// The response body.
#[derive(Serialize)]
struct Output {
    message: String,
    upstream_status: u16,
}

fn handle(req: Request, env: &Env) -> Result<Response> {
    if req.method() != "POST" {
        return Err(Error::new(405, "METHOD_NOT_ALLOWED", "POST a JSON body: {\"name\": \"...\"}"));
    }
    let input = req.json::<Input>()?;
    let url = env.var("api_url")?;
    let upstream = env.fetch(url.as_str())?;
    verge_sdk::console_log!("greeted {}; {} answered {}", input.name, url, upstream.status());
    Response::from_json(&Output {
        message: format!("Hello, {}! API responded.", input.name),
        upstream_status: upstream.status(),
    })
}

verge_sdk::handler!(handle);
