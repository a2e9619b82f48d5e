//! JSON as raw strings: the SDK has no serializer (use serde_json in your handler if you want
//! one); this quotes strings so hand-built JSON stays valid.

/// `s` as a JSON string literal, quotes included: `"`, `\` and control characters escaped.
///
/// ```
/// assert_eq!(verge_sdk::json::string("a \"b\"\n"), r#""a \"b\"\n""#);
/// ```
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `{"error":CODE,"message":MESSAGE}`, the error shape Verge itself answers with.
pub fn error(code: &str, message: &str) -> String {
    format!("{{\"error\":{},\"message\":{}}}", string(code), string(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(string(""), "\"\"");
        assert_eq!(string("é\u{1}\\"), "\"é\\u0001\\\\\"");
        assert_eq!(error("NOT_FOUND", "no \"x\""), r#"{"error":"NOT_FOUND","message":"no \"x\""}"#);
    }
}
