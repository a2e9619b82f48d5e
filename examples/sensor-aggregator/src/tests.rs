//! Handler tests against verge-sdk's fake host (`cargo test`, natively).

use serde_json::{json, Value};
use verge_sdk::http::{Request, Response};
use verge_sdk::mock::{Host, KvCall, KvOp};
use verge_sdk::Error;

use crate::app::{handle, milli_degrees};

fn request(method: &str, path: &str, body: &str) -> Request {
    Request::from_parts(
        [
            ("REQUEST_METHOD", method.to_string()),
            ("SCRIPT_NAME", String::new()),
            ("PATH_INFO", path.to_string()),
            ("X_MATCHED_ROUTE", "/...".to_string()),
            ("CONTENT_LENGTH", body.len().to_string()),
        ],
        body.as_bytes().to_vec(),
    )
}

fn call(method: &str, path: &str, body: &str) -> (u16, Value, Response) {
    let r = handle(&request(method, path, body));
    let v: Value = serde_json::from_slice(r.body_bytes()).unwrap_or(Value::Null);
    (r.status_code(), v, r)
}

fn post(device: &str, region: &str, t: f64, ts: u64) -> (u16, Value) {
    let body = json!({ "device_id": device, "region": region, "temperature_c": t, "timestamp": ts }).to_string();
    let (s, v, _) = call("POST", "/readings", &body);
    (s, v)
}

fn fresh() -> Host {
    let host = Host::new();
    host.install().grant_stores(&["default"]);
    host
}

#[test]
fn accepts_aggregates_and_reports() {
    let _host = fresh();
    assert_eq!(post("d1", "eu", 20.0, 100), (201, json!({ "status": "accepted" })));
    assert_eq!(post("d2", "eu", 10.0, 100), (201, json!({ "status": "accepted" })));
    assert_eq!(post("d1", "eu", -4.5, 101), (201, json!({ "status": "accepted" })));
    assert_eq!(post("d3", "us", 30.0, 5), (201, json!({ "status": "accepted" })));
    let (s, v, r) = call("GET", "/regions/eu", "");
    assert_eq!(s, 200);
    assert_eq!(r.header_value("content-type"), Some("application/json"));
    assert_eq!(v, json!({ "region": "eu", "count": 3, "sum": 25.5, "sum_milli_c": 25500, "mean": 8.5 }));
    assert_eq!(call("GET", "/regions", "").1, json!({ "regions": ["eu", "us"] }));
    assert_eq!(call("HEAD", "/regions/us", "").0, 200);
}

#[test]
fn duplicates_and_older_readings_are_not_counted() {
    let _host = fresh();
    assert_eq!(post("d1", "eu", 20.0, 100).0, 201);
    assert_eq!(post("d1", "eu", 20.0, 100), (200, json!({ "status": "duplicate" })));
    assert_eq!(post("d1", "eu", 25.0, 99), (200, json!({ "status": "duplicate" })));
    assert_eq!(post("d1", "eu", 25.0, 0), (200, json!({ "status": "duplicate" })));
    assert_eq!(call("GET", "/regions/eu", "").1["count"], 1);
    assert_eq!(post("d1", "eu", 25.0, 101).0, 201);
    assert_eq!(call("GET", "/regions/eu", "").1["count"], 2);
}

#[test]
fn validation_errors_name_the_field() {
    let _host = fresh();
    let (s, v, _) = call("POST", "/readings", r#"{"device_id":"d","region":"r","temperature_c":99,"timestamp":1}"#);
    assert_eq!(s, 400);
    assert_eq!(v["error"], "VALIDATION");
    assert_eq!(v["field"], "temperature_c");
    assert!(v["message"].as_str().unwrap().contains("between -90 and 70"));
    let (s, v, _) = call("POST", "/readings", "{nope");
    assert_eq!((s, v["error"].as_str()), (400, Some("BAD_JSON")));
    assert!(v["message"].is_string());
    let (s, v, _) = call("POST", "/readings", r#"{"device_id":"","region":"r","temperature_c":1,"timestamp":1}"#);
    assert_eq!((s, v["field"].as_str()), (400, Some("device_id")));
}

#[test]
fn unknown_regions_paths_and_methods() {
    let _host = fresh();
    let (s, v, _) = call("GET", "/regions/nowhere", "");
    assert_eq!((s, v["error"].as_str()), (404, Some("NOT_FOUND")));
    assert_eq!(call("GET", &format!("/regions/{}", "x".repeat(600)), "").0, 404);
    for path in ["/", "/nope", "/readings/x", "/regions/a/b", "/regions/"] {
        let (s, v, _) = call("GET", path, "");
        assert_eq!((s, v["error"].as_str()), (404, Some("NOT_FOUND")), "{}", path);
    }
    let (s, _, r) = call("GET", "/readings", "");
    assert_eq!((s, r.header_value("allow")), (405, Some("POST")));
    let (s, _, r) = call("DELETE", "/regions/eu", "");
    assert_eq!((s, r.header_value("allow")), (405, Some("GET, HEAD")));
    let (s, _, r) = call("POST", "/regions", "{}");
    assert_eq!((s, r.header_value("allow")), (405, Some("GET, HEAD")));
}

#[test]
fn region_names_are_percent_decoded_behind_the_catch_all_and_taken_from_params() {
    let _host = fresh();
    assert_eq!(post("d1", "eu west/2", 1.0, 1).0, 201);
    assert_eq!(call("GET", "/regions/eu%20west%2F2", "").1["region"], "eu west/2");
    // Behind the `/regions/:region` route: SCRIPT_NAME is the raw path, the param is decoded.
    let req = Request::from_parts(
        [
            ("REQUEST_METHOD", "GET"),
            ("SCRIPT_NAME", "/regions/eu%20west%2F2"),
            ("PATH_INFO", ""),
            ("X_MATCHED_ROUTE", "/regions/:region"),
            ("X_VERGE_PARAM_REGION", "eu west/2"),
        ],
        Vec::new(),
    );
    assert_eq!(handle(&req).status_code(), 200);
}

#[test]
fn store_failures_answer_503_at_once() {
    for error in [Error::Unavailable, Error::Timeout] {
        let host = fresh();
        assert_eq!(post("d1", "eu", 1.0, 1).0, 201);
        let kv_calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = kv_calls.clone();
        host.on_kv(move |_: &mut KvCall| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        host.fail_kv(error, None);
        for (method, path, body) in [
            ("POST", "/readings", r#"{"device_id":"d1","region":"eu","temperature_c":1,"timestamp":2}"#),
            ("GET", "/regions/eu", ""),
            ("GET", "/regions", ""),
        ] {
            let (s, v, r) = call(method, path, body);
            assert_eq!(s, 503, "{} {} {:?}", method, path, error);
            assert_eq!(v["error"], "STORE_UNAVAILABLE");
            assert_eq!(r.header_value("retry-after"), Some("1"));
        }
        // Failed calls never reached the store (the hook runs after failure injection), and
        // nothing was retried: 1 POST (1 failed get) + 2 GETs = 3 calls, all failed.
        assert_eq!(kv_calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        host.heal_kv();
        assert_eq!(call("GET", "/regions/eu", "").1["count"], 1);
    }
}

#[test]
fn a_failed_region_update_rolls_the_device_back() {
    let host = fresh();
    assert_eq!(post("d1", "eu", 1.0, 1).0, 201);
    // The region's sum fails after the device was claimed.
    host.on_kv(|call: &mut KvCall| {
        if call.op == KvOp::Increment && call.key.starts_with(b"sum_mc:") {
            call.fail(Error::Unavailable);
        }
    });
    let (s, v) = post("d1", "eu", 2.0, 2);
    assert_eq!((s, v["error"].as_str()), (503, Some("STORE_UNAVAILABLE")));
    assert_eq!(host.kv_value("default", "device:d1"), Some(b"1".to_vec()), "rolled back");
    host.on_kv(|_: &mut KvCall| {});
    assert_eq!(post("d1", "eu", 2.0, 2).0, 201, "the retry is accepted");
    assert_eq!(call("GET", "/regions/eu", "").1["count"], 2);

    // The count fails after the sum was added: the sum is taken back, and a brand-new device is
    // rolled back to "no timestamp" ("").
    host.on_kv(|call: &mut KvCall| {
        if call.op == KvOp::Increment && call.key_str().starts_with("count:") {
            call.fail(Error::Timeout);
        }
    });
    assert_eq!(post("d9", "eu", 2.5, 7).0, 503);
    assert_eq!(host.kv_value("default", "device:d9"), Some(b"".to_vec()));
    assert_eq!(host.kv_value("default", "sum_mc:eu"), Some(b"3000".to_vec()), "the sum is taken back");
    host.on_kv(|_: &mut KvCall| {});
    assert_eq!(post("d9", "eu", 2.5, 7).0, 201);
    assert_eq!(call("GET", "/regions/eu", "").1, json!({ "region": "eu", "count": 3, "sum": 5.5, "sum_milli_c": 5500, "mean": 5.5 / 3.0 }));
}

#[test]
fn corrupt_state_is_a_500() {
    let host = fresh();
    host.kv_insert("default", "count:eu", b"{not a count");
    host.kv_insert("default", "sum_mc:us", b"1.5");
    host.kv_insert("default", "count:us", b"1");
    host.kv_insert("default", "device:bad", b"yesterday");
    assert_eq!(call("GET", "/regions/eu", "").0, 500);
    assert_eq!(call("GET", "/regions/us", "").0, 500);
    assert_eq!(post("d1", "us", 1.0, 1).0, 500);
    assert_eq!(post("bad", "us", 1.0, 1).0, 500);
}

#[test]
fn temperatures_are_summed_in_thousandths_of_a_degree() {
    let _host = fresh();
    assert_eq!(milli_degrees(-89.9995), -90000);
    assert_eq!(milli_degrees(21.0004), 21000);
    assert_eq!(post("d1", "fx", 0.1, 1).0, 201);
    assert_eq!(post("d2", "fx", 0.2, 1).0, 201);
    // 0.1 + 0.2 is not 0.3 in floating point; in thousandths it is exact.
    assert_eq!(call("GET", "/regions/fx", "").1["sum_milli_c"], 300);
}

#[test]
fn list_regions_pages_through_all_keys() {
    let host = fresh();
    host.set_list_page_limit(3);
    for i in 0..20 {
        assert_eq!(post(&format!("d{}", i), &format!("r{:02}", i), 1.0, 1).0, 201);
    }
    let v = call("GET", "/regions", "").1;
    let names: Vec<&str> = v["regions"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(names, (0..20).map(|i| format!("r{:02}", i)).collect::<Vec<_>>());
}

/// 8 threads x 500 readings into one region, through the handler, against one shared fake
/// store: the increments must lose nothing.
#[test]
fn concurrent_readings_are_all_counted() {
    let host = fresh();
    let threads: Vec<_> = (0..8u64)
        .map(|c| {
            let host = host.clone();
            std::thread::spawn(move || {
                host.install();
                for i in 0..500u64 {
                    // Multiples of 0.25: the float sum is exact in any order.
                    let t = ((c * 500 + i) % 400) as f64 * 0.25 - 50.0;
                    let (s, _) = post(&format!("dev-{}", c), "hot", t, i + 1);
                    assert_eq!(s, 201);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let v = call("GET", "/regions/hot", "").1;
    let expected_sum: i64 = (0..4000i64).map(|k| (k % 400) * 250 - 50_000).sum();
    assert_eq!(v["count"], 4000);
    assert_eq!(v["sum_milli_c"], expected_sum);
}

/// Concurrent copies of the same reading: exactly one is accepted.
#[test]
fn concurrent_duplicates_are_accepted_once() {
    let host = fresh();
    for round in 1..=20u64 {
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let host = host.clone();
                std::thread::spawn(move || {
                    host.install();
                    post("twin", "dups", 1.0, round).0
                })
            })
            .collect();
        let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(statuses.iter().filter(|&&s| s == 201).count(), 1, "{:?}", statuses);
        assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 7);
    }
    assert_eq!(call("GET", "/regions/dups", "").1["count"], 20);
}
