//! Parsing and validating a posted reading. Pure: no host calls.

use serde_json::{Map, Value};

/// Longest `device_id` / `region`, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 64;
/// Accepted temperature range, inclusive, in °C.
pub const MIN_TEMPERATURE_C: f64 = -90.0;
pub const MAX_TEMPERATURE_C: f64 = 70.0;
/// Largest timestamp: 2^53 - 1, so it is exact in every JSON implementation.
pub const MAX_TIMESTAMP: u64 = (1 << 53) - 1;
/// Deepest JSON nesting accepted in a body (a reading is flat; this bounds parser recursion
/// on the guest's 64 KiB stack).
pub const MAX_DEPTH: usize = 16;

/// A valid reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub device_id: String,
    pub region: String,
    pub temperature_c: f64,
    /// Unix time in seconds or milliseconds: the service only compares timestamps of the same
    /// device, so a device must stick to one unit.
    pub timestamp: u64,
}

/// Why a body was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Not JSON at all (or not UTF-8, or nested too deeply): `BAD_JSON`.
    BadJson(String),
    /// JSON, but a field is missing or wrong: `VALIDATION`, naming the field.
    Invalid { field: &'static str, message: String },
}

fn invalid(field: &'static str, message: impl Into<String>) -> Rejection {
    Rejection::Invalid { field, message: message.into() }
}

/// Parses and validates a request body.
pub fn parse(body: &[u8]) -> Result<Reading, Rejection> {
    if nesting_exceeds(body, MAX_DEPTH) {
        return Err(Rejection::BadJson(format!("JSON nested deeper than {} levels", MAX_DEPTH)));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| Rejection::BadJson(e.to_string()))?;
    let obj = match value.as_object() {
        Some(obj) => obj,
        None => return Err(invalid("body", "the body must be a JSON object")),
    };
    let device_id = name(obj, "device_id")?;
    let region = name(obj, "region")?;
    let temperature_c = temperature(obj)?;
    let timestamp = timestamp(obj)?;
    Ok(Reading { device_id, region, temperature_c, timestamp })
}

/// Checks a `device_id` or `region` value (also used for region names in URLs).
pub fn check_name(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_string());
    }
    if s.chars().count() > MAX_NAME_CHARS {
        return Err(format!("must be at most {} characters", MAX_NAME_CHARS));
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".to_string());
    }
    Ok(())
}

fn name(obj: &Map<String, Value>, field: &'static str) -> Result<String, Rejection> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(invalid(field, format!("{} is required", field))),
        Some(Value::String(s)) => match check_name(s) {
            Ok(()) => Ok(s.clone()),
            Err(why) => Err(invalid(field, format!("{} {}", field, why))),
        },
        Some(_) => Err(invalid(field, format!("{} must be a string", field))),
    }
}

fn temperature(obj: &Map<String, Value>) -> Result<f64, Rejection> {
    const F: &str = "temperature_c";
    match obj.get(F) {
        None | Some(Value::Null) => Err(invalid(F, "temperature_c is required")),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(t) if (MIN_TEMPERATURE_C..=MAX_TEMPERATURE_C).contains(&t) => Ok(t),
            _ => Err(invalid(
                F,
                format!("temperature_c must be between {} and {} (degrees Celsius)", MIN_TEMPERATURE_C, MAX_TEMPERATURE_C),
            )),
        },
        Some(_) => Err(invalid(F, "temperature_c must be a number")),
    }
}

fn timestamp(obj: &Map<String, Value>) -> Result<u64, Rejection> {
    const F: &str = "timestamp";
    match obj.get(F) {
        None | Some(Value::Null) => Err(invalid(F, "timestamp is required")),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) if t <= MAX_TIMESTAMP => Ok(t),
            _ => Err(invalid(
                F,
                format!("timestamp must be an integer from 0 to {} (unix seconds or milliseconds)", MAX_TIMESTAMP),
            )),
        },
        Some(_) => Err(invalid(F, "timestamp must be a number (unix seconds or milliseconds)")),
    }
}

/// Whether brackets nest deeper than `max` outside strings (a cheap pre-scan, so the
/// recursive parser never goes deep).
fn nesting_exceeds(body: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> (&'static str, String) {
        match parse(body.as_bytes()) {
            Err(Rejection::Invalid { field, message }) => (field, message),
            other => panic!("expected a validation error for {}, got {:?}", body, other),
        }
    }

    #[test]
    fn accepts_a_valid_reading() {
        let r = parse(br#"{"device_id":"d1","region":"eu-west","temperature_c":21.5,"timestamp":1700000000,"extra":true}"#).unwrap();
        assert_eq!(
            r,
            Reading { device_id: "d1".into(), region: "eu-west".into(), temperature_c: 21.5, timestamp: 1_700_000_000 }
        );
        // Integers are numbers too, and the bounds are inclusive.
        assert_eq!(parse(br#"{"device_id":"d","region":"r","temperature_c":-90,"timestamp":0}"#).unwrap().temperature_c, -90.0);
        assert_eq!(parse(br#"{"device_id":"d","region":"r","temperature_c":70,"timestamp":0}"#).unwrap().temperature_c, 70.0);
        let max = format!(r#"{{"device_id":"{}","region":"r","temperature_c":1,"timestamp":9007199254740991}}"#, "é".repeat(64));
        assert_eq!(parse(max.as_bytes()).unwrap().timestamp, MAX_TIMESTAMP);
    }

    #[test]
    fn rejects_bad_json() {
        for body in ["", "{", "not json", r#"{"a":1} x"#, "\u{0}", r#"{"a":1,}"#] {
            assert!(matches!(parse(body.as_bytes()), Err(Rejection::BadJson(_))), "{:?}", body);
        }
        assert!(matches!(parse(b"{\"device_id\":\"\xff\"}"), Err(Rejection::BadJson(_))));
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(parse(deep.as_bytes()), Err(Rejection::BadJson(m)) if m.contains("nested")));
        // Brackets inside strings do not count.
        let ok = format!(r#"{{"device_id":"{}","region":"r","temperature_c":1,"timestamp":1}}"#, "[".repeat(40));
        assert_eq!(parse(ok.as_bytes()).unwrap().device_id, "[".repeat(40));
    }

    #[test]
    fn names_the_failing_field() {
        assert_eq!(field_of("[]").0, "body");
        assert_eq!(field_of("42").0, "body");
        assert_eq!(field_of(r#"{}"#), ("device_id", "device_id is required".to_string()));
        assert_eq!(field_of(r#"{"device_id":null}"#).0, "device_id");
        assert_eq!(field_of(r#"{"device_id":7}"#), ("device_id", "device_id must be a string".to_string()));
        assert_eq!(field_of(r#"{"device_id":""}"#), ("device_id", "device_id must not be empty".to_string()));
        let long = format!(r#"{{"device_id":"{}"}}"#, "x".repeat(65));
        assert_eq!(field_of(&long), ("device_id", "device_id must be at most 64 characters".to_string()));
        assert_eq!(field_of(r#"{"device_id":"a\nb"}"#).1, "device_id must not contain control characters");
        assert_eq!(field_of(r#"{"device_id":"d"}"#), ("region", "region is required".to_string()));
        assert_eq!(field_of(r#"{"device_id":"d","region":["eu"]}"#).0, "region");
        assert_eq!(field_of(r#"{"device_id":"d","region":"r"}"#).0, "temperature_c");
        assert_eq!(field_of(r#"{"device_id":"d","region":"r","temperature_c":"20"}"#).1, "temperature_c must be a number");
        assert!(field_of(r#"{"device_id":"d","region":"r","temperature_c":70.01}"#).1.contains("between -90 and 70"));
        assert_eq!(field_of(r#"{"device_id":"d","region":"r","temperature_c":-90.5}"#).0, "temperature_c");
        assert_eq!(field_of(r#"{"device_id":"d","region":"r","temperature_c":1}"#), ("timestamp", "timestamp is required".to_string()));
        for ts in ["-1", "1.5", "1e3", "9007199254740992", "18446744073709551616"] {
            let body = format!(r#"{{"device_id":"d","region":"r","temperature_c":1,"timestamp":{}}}"#, ts);
            let (field, message) = field_of(&body);
            assert_eq!(field, "timestamp", "{}", ts);
            assert!(message.contains("integer from 0"), "{}: {}", ts, message);
        }
        assert!(field_of(r#"{"device_id":"d","region":"r","temperature_c":1,"timestamp":"1"}"#).1.contains("must be a number"));
    }
}
