//! Routing and the handlers. `handle` takes a request and returns a response; the host calls
//! go through verge-sdk, so the same code runs against the fake host in `cargo test`.

use serde_derive::Serialize;
use verge_sdk::http::{percent_decode, Request, Response};
use verge_sdk::kv::Store;
use verge_sdk::{log, Error};

use crate::reading::{self, Reading, Rejection};

/// The store the manifest grants (`key_value_stores = ["default"]`).
pub const STORE: &str = "default";
/// Compare-and-swap attempts before giving up with a 503.
pub const MAX_ATTEMPTS: u32 = 100;
/// `device:<id>` holds the device's last accepted timestamp (decimal); `""` means none (what a
/// failed reading is rolled back to, since compare-and-swap cannot delete).
pub const DEVICE_PREFIX: &str = "device:";
/// `count:<region>`: the number of accepted readings, a counter (`increment` by 1).
pub const COUNT_PREFIX: &str = "count:";
/// `sum_mc:<region>`: the sum of the temperatures in thousandths of a degree, a counter.
/// Counters rather than one JSON value: increments merge exactly across the nodes of a cluster
/// (a `replicated` store adds up what every node counted), where a read-modify-write of one
/// value would keep one node's total and lose the others'.
pub const SUM_PREFIX: &str = "sum_mc:";

/// A temperature in the fixed-point unit of the sum: thousandths of a degree Celsius.
pub fn milli_degrees(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

#[derive(Serialize)]
struct RegionView<'a> {
    region: &'a str,
    count: i64,
    /// The sum in degrees (`sum_milli_c / 1000`).
    sum: f64,
    /// The exact sum, in thousandths of a degree.
    sum_milli_c: i64,
    mean: f64,
}

fn json(status: u16, value: &serde_json::Value) -> Response {
    Response::json(status, value.to_string())
}

fn error(status: u16, code: &str, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": code, "message": message }))
}

/// The answer to a failed store call. `Unavailable` and `Timeout` mean the backend is failing:
/// 503 at once, no retry here (the client retries after a second). `Conflict` here means the
/// compare-and-swap attempts ran out under contention: also 503. Anything else is a bug or a
/// misconfiguration: 500.
fn store_failure(what: &str, e: Error) -> Response {
    match e {
        Error::Unavailable | Error::Timeout => {
            log::warn(&format!("{}: store unavailable: {}", what, e));
            error(503, "STORE_UNAVAILABLE", &format!("The key-value store is unavailable ({}); retry later", e.name()))
                .header("retry-after", "1")
        }
        Error::Conflict => {
            log::warn(&format!("{}: gave up after {} compare-and-swap conflicts", what, MAX_ATTEMPTS));
            error(503, "STORE_CONTENDED", "Too many concurrent updates; retry later").header("retry-after", "1")
        }
        e => {
            log::error(&format!("{}: store error: {}", what, e));
            error(500, "STORE_ERROR", &format!("Key-value store error: {}", e.name()))
        }
    }
}

/// A stored value the service cannot read back: a bug or manual tampering.
fn corrupt(key: &str) -> Response {
    log::error(&format!("corrupt value at {}", key));
    error(500, "CORRUPT_STATE", &format!("The stored value at '{}' is not readable", key))
}

fn method_not_allowed(req: &Request, allow: &str) -> Response {
    error(405, "METHOD_NOT_ALLOWED", &format!("Method {} is not allowed here; use {}", req.method(), allow))
        .header("allow", allow)
}

fn not_found(req: &Request) -> Response {
    error(404, "NOT_FOUND", &format!("No route for {} {}", req.method(), req.path()))
}

/// Routes on the whole path (SCRIPT_NAME + PATH_INFO), so it works both behind the specific
/// routes in verge.toml and behind the `/...` catch-all.
pub fn handle(req: &Request) -> Response {
    let path = req.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_get = matches!(req.method(), "GET" | "HEAD");
    match segments.as_slice() {
        ["readings"] => match req.method() {
            "POST" => post_reading(req),
            _ => method_not_allowed(req, "POST"),
        },
        ["regions"] if is_get => list_regions(),
        ["regions"] => method_not_allowed(req, "GET, HEAD"),
        ["regions", segment] if !segment.is_empty() => {
            if !is_get {
                return method_not_allowed(req, "GET, HEAD");
            }
            // The host decodes `:region`; behind `/...` the raw segment is decoded here.
            let region = match req.param("region") {
                Some(r) => r.to_string(),
                None => percent_decode(segment),
            };
            get_region(&region)
        }
        _ => not_found(req),
    }
}

enum Claim {
    /// The device's timestamp was advanced to the reading's; `previous` is what it was.
    Accepted { previous: Option<Vec<u8>> },
    Duplicate,
    Corrupt,
}

/// `device:<id>` value -> last accepted timestamp (`None`: none yet).
fn parse_device(value: &[u8]) -> Result<Option<u64>, ()> {
    if value.is_empty() {
        return Ok(None);
    }
    std::str::from_utf8(value).ok().and_then(|s| s.parse::<u64>().ok()).map(Some).ok_or(())
}

fn post_reading(req: &Request) -> Response {
    let reading = match reading::parse(req.body()) {
        Ok(r) => r,
        Err(Rejection::BadJson(message)) => {
            return error(400, "BAD_JSON", &format!("The body is not valid JSON: {}", message));
        }
        Err(Rejection::Invalid { field, message }) => {
            return json(400, &serde_json::json!({ "error": "VALIDATION", "field": field, "message": message }));
        }
    };
    let store = match Store::open(STORE) {
        Ok(s) => s,
        Err(e) => return store_failure("open", e),
    };

    // 1. Claim the timestamp for the device: compare-and-swap, so of two concurrent readings
    //    with the same timestamp exactly one gets past this point.
    let device_key = format!("{}{}", DEVICE_PREFIX, reading.device_id);
    let new_ts = reading.timestamp.to_string().into_bytes();
    let claim = store.update(&device_key, MAX_ATTEMPTS, |old| match old.map(parse_device) {
        Some(Err(())) => (None, Claim::Corrupt),
        Some(Ok(Some(last))) if reading.timestamp <= last => (None, Claim::Duplicate),
        _ => (Some(new_ts.clone()), Claim::Accepted { previous: old.map(|v| v.to_vec()) }),
    });
    let previous = match claim {
        Ok(Claim::Accepted { previous }) => previous,
        Ok(Claim::Duplicate) => return json(200, &serde_json::json!({ "status": "duplicate" })),
        Ok(Claim::Corrupt) => return corrupt(&device_key),
        Err(e) => return store_failure("claim device timestamp", e),
    };

    // 2. Count the reading into the region: two increments, which merge exactly across nodes.
    match add_to_region(&store, &reading) {
        Ok(()) => json(201, &serde_json::json!({ "status": "accepted" })),
        Err(response) => {
            // Not counted: give the device its previous timestamp back, so that the client's
            // retry is not taken for a duplicate. Only if nothing newer was claimed since; the
            // ABI cannot delete with compare-and-swap, so "none" is stored as "".
            let back = previous.unwrap_or_default();
            if let Err(e) = store.compare_and_swap(&device_key, Some(&new_ts), &back) {
                log::warn(&format!("could not roll back {} after a failed region update: {}", device_key, e));
            }
            response
        }
    }
}

/// Adds the reading to the region's sum, then to its count. If the count fails, the sum is
/// taken back (an increment by the opposite), so a reading is counted in both or in neither
/// unless the store fails twice in a row.
fn add_to_region(store: &Store, reading: &Reading) -> Result<(), Response> {
    let t = milli_degrees(reading.temperature_c);
    let sum_key = format!("{}{}", SUM_PREFIX, reading.region);
    store.increment(&sum_key, t).map_err(|e| store_failure("add to region sum", e))?;
    let count_key = format!("{}{}", COUNT_PREFIX, reading.region);
    if let Err(e) = store.increment(&count_key, 1) {
        if let Err(back) = store.increment(&sum_key, -t) {
            log::warn(&format!("could not take the reading back out of {}: {}", sum_key, back));
        }
        return Err(store_failure("count the region reading", e));
    }
    Ok(())
}

fn list_regions() -> Response {
    let keys = match Store::open(STORE).and_then(|s| s.list_all_keys(COUNT_PREFIX)) {
        Ok(keys) => keys,
        Err(e) => return store_failure("list regions", e),
    };
    let regions: Vec<&str> = keys.iter().filter_map(|k| k.strip_prefix(COUNT_PREFIX)).collect();
    json(200, &serde_json::json!({ "regions": regions }))
}

/// A counter's value, `None` for a missing key, `Err` for a value that is not a decimal integer.
fn read_counter(store: &Store, key: &str) -> Result<Option<i64>, Response> {
    match store.get(key) {
        Ok(None) => Ok(None),
        Ok(Some(bytes)) => std::str::from_utf8(&bytes).ok().and_then(|s| s.parse::<i64>().ok()).map(Some).ok_or_else(|| corrupt(key)),
        Err(e) => Err(store_failure("read region stats", e)),
    }
}

fn get_region(region: &str) -> Response {
    let unknown = || error(404, "NOT_FOUND", &format!("No readings for region '{}'", region));
    if reading::check_name(region).is_err() {
        return unknown();
    }
    let store = match Store::open(STORE) {
        Ok(s) => s,
        Err(e) => return store_failure("open", e),
    };
    let count = match read_counter(&store, &format!("{}{}", COUNT_PREFIX, region)) {
        Ok(Some(n)) if n > 0 => n,
        Ok(_) => return unknown(),
        Err(response) => return response,
    };
    let sum_milli_c = match read_counter(&store, &format!("{}{}", SUM_PREFIX, region)) {
        Ok(n) => n.unwrap_or(0),
        Err(response) => return response,
    };
    let sum = sum_milli_c as f64 / 1000.0;
    let view = RegionView { region, count, sum, sum_milli_c, mean: sum / count as f64 };
    Response::json(200, serde_json::to_string(&view).expect("view serializes"))
}
