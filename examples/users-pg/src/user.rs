//! A user: the JSON a client posts (validated here), and the JSON of a stored row.

use serde_json::{json, Map, Value as Json};
use verge_sdk::pg::{Row, Value};

pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_EMAIL_BYTES: usize = 254;

#[derive(Debug, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub email: String,
}

/// The user a client posted, or why not: field name → problem.
pub fn parse(body: &[u8]) -> Result<NewUser, Map<String, Json>> {
    let mut problems = Map::new();
    let doc: Json = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            problems.insert("body".into(), json!(format!("not valid JSON: {}", e)));
            return Err(problems);
        }
    };
    let obj = match doc.as_object() {
        Some(o) => o,
        None => {
            problems.insert("body".into(), json!("expected a JSON object with name and email"));
            return Err(problems);
        }
    };
    let name = obj.get("name").and_then(Json::as_str).map(str::trim).unwrap_or("");
    if name.is_empty() {
        problems.insert("name".into(), json!("required: a non-empty string"));
    } else if name.chars().count() > MAX_NAME_CHARS {
        problems.insert("name".into(), json!(format!("at most {} characters", MAX_NAME_CHARS)));
    }
    let email = obj.get("email").and_then(Json::as_str).map(str::trim).unwrap_or("");
    if !valid_email(email) {
        problems.insert("email".into(), json!("required: an address like ada@example.com"));
    }
    for k in obj.keys() {
        if k != "name" && k != "email" {
            problems.insert(k.clone(), json!("unknown field (expected name and email)"));
        }
    }
    if problems.is_empty() {
        Ok(NewUser { name: name.to_string(), email: email.to_string() })
    } else {
        Err(problems)
    }
}

/// One `@`, something before it, a dotted domain after it, no spaces or control characters.
pub fn valid_email(email: &str) -> bool {
    if email.is_empty() || email.len() > MAX_EMAIL_BYTES || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
        }
        None => false,
    }
}

/// A `users` row (`id, name, email, created_at`) as JSON.
pub fn to_json(row: &Row<'_>) -> Json {
    let text = |c: &str| row.get(c).and_then(Value::as_str).map(str::to_string);
    json!({
        "id": row.get("id").and_then(Value::as_i64),
        "name": text("name"),
        "email": text("email"),
        "created_at": text("created_at"),
    })
}
