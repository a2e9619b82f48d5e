//! PostgreSQL (`pg_*` in docs/abi.md; docs/data.md has the manifest, types, limits and errors).
//!
//! Open a database granted to the component (`databases = ["main"]`) by its name — its URL and
//! password stay on the host — or a `postgres://` address allowed by `allowed_outbound_hosts`.
//! Statements are parameterised: write `$1`, `$2`, ... and pass the values; a value is never
//! spliced into the statement's text, so it can hold anything, quotes and semicolons included.
//!
//! ```no_run
//! use verge_sdk::pg::{Connection, Value};
//! # fn main() -> Result<(), verge_sdk::pg::DbError> {
//! let db = Connection::open("main")?;
//! let rows = db.query("SELECT id, name FROM users WHERE email = $1", &[Value::text("ada@example.com")])?;
//! for row in rows.iter() {
//!     let id = row.get("id").and_then(|v| v.as_i64());
//!     let name = row.get("name").and_then(|v| v.as_str());
//! }
//! let inserted = db.execute("INSERT INTO visits (user_id) VALUES ($1)", &[Value::Int(7)])?;
//! db.transaction(|tx| {
//!     tx.execute("UPDATE accounts SET balance = balance - $1 WHERE id = $2", &[Value::Int(10), Value::Int(1)])?;
//!     tx.execute("UPDATE accounts SET balance = balance + $1 WHERE id = $2", &[Value::Int(10), Value::Int(2)])?;
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```

use std::fmt;

use crate::error::{Error, MALFORMED};
use crate::sys;

const NULL: u8 = 0;
const BOOL: u8 = 1;
const INT: u8 = 2;
const FLOAT: u8 = 3;
const TEXT: u8 = 4;
const BYTES: u8 = 5;
const NUMERIC: u8 = 6;
const UUID: u8 = 7;
const JSON: u8 = 8;
const DATE: u8 = 9;
const TIME: u8 = 10;
const TIMESTAMP: u8 = 11;
const TIMESTAMPTZ: u8 = 12;
const ARRAY: u8 = 13;
const INTERVAL: u8 = 14;

/// A parameter or a result value. Dates and times are ISO 8601 text (`2024-05-01`,
/// `13:45:00.25`, `2024-05-01T13:45:00`, `2024-05-01T13:45:00Z` in UTC), numeric its decimal text.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// int2, int4, int8.
    Int(i64),
    /// float4, float8.
    Float(f64),
    /// text, varchar, ...; types the SDK has no variant for arrive as their text form.
    Text(String),
    /// bytea.
    Bytes(Vec<u8>),
    /// numeric as decimal text: exact, never a float.
    Numeric(String),
    Uuid(String),
    /// json and jsonb, as JSON text.
    Json(String),
    Date(String),
    Time(String),
    /// timestamp (without time zone).
    Timestamp(String),
    /// timestamptz, in UTC (`...Z`).
    TimestampTz(String),
    /// ISO 8601 (`P1DT2H`).
    Interval(String),
    /// An array; its elements may be `Null`, or arrays for more dimensions.
    Array(Vec<Value>),
}

impl Value {
    /// `Value::Text`.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The text of every text-like value (text, numeric, uuid, json, dates and times, intervals).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s)
            | Value::Numeric(s)
            | Value::Uuid(s)
            | Value::Json(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::Timestamp(s)
            | Value::TimestampTz(s)
            | Value::Interval(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let (tag, payload): (u8, Vec<u8>) = match self {
            Value::Null => (NULL, Vec::new()),
            Value::Bool(b) => (BOOL, vec![*b as u8]),
            Value::Int(n) => (INT, n.to_le_bytes().to_vec()),
            Value::Float(f) => (FLOAT, f.to_le_bytes().to_vec()),
            Value::Text(s) => (TEXT, s.as_bytes().to_vec()),
            Value::Bytes(b) => (BYTES, b.clone()),
            Value::Numeric(s) => (NUMERIC, s.as_bytes().to_vec()),
            Value::Uuid(s) => (UUID, s.as_bytes().to_vec()),
            Value::Json(s) => (JSON, s.as_bytes().to_vec()),
            Value::Date(s) => (DATE, s.as_bytes().to_vec()),
            Value::Time(s) => (TIME, s.as_bytes().to_vec()),
            Value::Timestamp(s) => (TIMESTAMP, s.as_bytes().to_vec()),
            Value::TimestampTz(s) => (TIMESTAMPTZ, s.as_bytes().to_vec()),
            Value::Interval(s) => (INTERVAL, s.as_bytes().to_vec()),
            Value::Array(items) => {
                let mut inner = Vec::new();
                for item in items {
                    item.encode(&mut inner);
                }
                (ARRAY, inner)
            }
        };
        out.push(tag);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int(n as i64)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Text(s)
    }
}
impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map(Into::into).unwrap_or(Value::Null)
    }
}

/// The verge:v1 encoding of parameters: each value `[tag][u32 LE length][payload]`.
pub(crate) fn encode_params(params: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in params {
        p.encode(&mut out);
    }
    out
}

/// Reads parameters in that encoding (the mock host's side).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn decode_params(data: &[u8]) -> Result<Vec<Value>, Error> {
    let mut r = Reader { data, at: 0 };
    let mut out = Vec::new();
    while r.at < data.len() {
        out.push(r.value()?);
    }
    Ok(out)
}

/// A result column: its name and PostgreSQL type (`int4`, `text[]`, `oid N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: String,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

/// One row, with its columns.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [Column],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The value of the column `name` (the first one, if several have it).
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        self.values.get(i)
    }

    /// The value at `index`.
    pub fn at(&self, index: usize) -> Option<&'a Value> {
        self.values.get(index)
    }

    pub fn values(&self) -> &'a [Value] {
        self.values
    }
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        let columns = &self.columns[..];
        self.rows.iter().map(move |values| Row { columns, values })
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.iter().next()
    }

    /// The verge:v1 encoding of a result (what the host writes; the mock host uses it).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.columns.len() as u32).to_le_bytes());
        for c in &self.columns {
            for s in [&c.name, &c.type_name] {
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        }
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        for row in &self.rows {
            for v in row {
                v.encode(&mut out);
            }
        }
        out
    }

    /// Reads a result the host encoded; `Other(MALFORMED)` if it does not parse.
    pub(crate) fn decode(data: &[u8]) -> Result<Rows, Error> {
        let mut r = Reader { data, at: 0 };
        let mut rows = Rows::default();
        for _ in 0..r.u32()? {
            let name = r.string()?;
            let type_name = r.string()?;
            rows.columns.push(Column { name, type_name });
        }
        for _ in 0..r.u32()? {
            let mut row = Vec::with_capacity(rows.columns.len());
            for _ in 0..rows.columns.len() {
                row.push(r.value()?);
            }
            rows.rows.push(row);
        }
        if r.at != data.len() {
            return Err(Error::Other(MALFORMED));
        }
        Ok(rows)
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.data.len()).ok_or(Error::Other(MALFORMED))?;
        let s = &self.data[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<usize, Error> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn string(&mut self) -> Result<String, Error> {
        let n = self.u32()?;
        Ok(String::from_utf8_lossy(self.take(n)?).into_owned())
    }

    fn value(&mut self) -> Result<Value, Error> {
        let tag = self.take(1)?[0];
        let n = self.u32()?;
        let payload = self.take(n)?;
        let text = || String::from_utf8_lossy(payload).into_owned();
        let eight = || -> Result<[u8; 8], Error> {
            let mut b = [0u8; 8];
            if payload.len() != 8 {
                return Err(Error::Other(MALFORMED));
            }
            b.copy_from_slice(payload);
            Ok(b)
        };
        Ok(match tag {
            NULL => Value::Null,
            BOOL => Value::Bool(payload.first().copied().unwrap_or(0) != 0),
            INT => Value::Int(i64::from_le_bytes(eight()?)),
            FLOAT => Value::Float(f64::from_le_bytes(eight()?)),
            BYTES => Value::Bytes(payload.to_vec()),
            NUMERIC => Value::Numeric(text()),
            UUID => Value::Uuid(text()),
            JSON => Value::Json(text()),
            DATE => Value::Date(text()),
            TIME => Value::Time(text()),
            TIMESTAMP => Value::Timestamp(text()),
            TIMESTAMPTZ => Value::TimestampTz(text()),
            INTERVAL => Value::Interval(text()),
            ARRAY => {
                let mut inner = Reader { data: payload, at: 0 };
                let mut items = Vec::new();
                while inner.at < payload.len() {
                    items.push(inner.value()?);
                }
                Value::Array(items)
            }
            // TEXT, and a tag from a newer host: its text.
            _ => Value::Text(text()),
        })
    }
}

/// A failed call: the ABI status, and PostgreSQL's SQLSTATE, message and detail when the database
/// reported the error (`sqlstate` is `None` for Verge's own refusals: a grant, a cap, a connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    pub code: Error,
    pub sqlstate: Option<String>,
    pub message: String,
    pub detail: Option<String>,
}

impl DbError {
    fn from_code(code: i32, handle: Option<i32>) -> DbError {
        let code = Error::from_code(code);
        let text = handle
            .and_then(|h| sys::read_sized(256, |out| sys::pg_error(h, out)).ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let mut lines = text.splitn(3, '\n');
        let first = lines.next().unwrap_or("");
        let message = lines.next().unwrap_or("").to_string();
        let detail = lines.next().filter(|d| !d.is_empty()).map(str::to_string);
        let sqlstate = if first.len() == 5 && first.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()) {
            Some(first.to_string())
        } else {
            None
        };
        DbError { code, sqlstate, message: if message.is_empty() { code.to_string() } else { message }, detail }
    }

    /// A unique constraint was violated (SQLSTATE 23505): a duplicate key.
    pub fn is_unique_violation(&self) -> bool {
        self.sqlstate.as_deref() == Some("23505")
    }

    /// The table is missing (42P01): a migration has not run yet.
    pub fn is_undefined_table(&self) -> bool {
        self.sqlstate.as_deref() == Some("42P01")
    }

    /// The database cannot serve now (`Unavailable` or `Timeout`): answer 503.
    pub fn is_unavailable(&self) -> bool {
        self.code.is_unavailable()
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sqlstate {
            Some(s) => write!(f, "{} (SQLSTATE {}): {}", self.code.name(), s, self.message),
            None => write!(f, "{}: {}", self.code.name(), self.message),
        }
    }
}

impl std::error::Error for DbError {}

impl From<DbError> for Error {
    fn from(e: DbError) -> Error {
        e.code
    }
}

/// A connection to one database. Its handle lasts until the end of the request (or `close`);
/// a transaction left open then is rolled back.
#[derive(Debug, PartialEq, Eq)]
pub struct Connection {
    handle: i32,
}

impl Connection {
    /// Opens the database `name` granted in `databases`, or a `postgres://` URL allowed by
    /// `allowed_outbound_hosts`. No network yet: a database that is down fails the first statement.
    pub fn open(name_or_url: &str) -> Result<Connection, DbError> {
        match sys::pg_open(name_or_url.as_bytes()) {
            h if h >= 0 => Ok(Connection { handle: h }),
            code => Err(DbError::from_code(code, None)),
        }
    }

    fn check(&self, rc: i32) -> Result<i32, DbError> {
        if rc >= 0 {
            Ok(rc)
        } else {
            Err(DbError::from_code(rc, Some(self.handle)))
        }
    }

    /// Runs a statement and returns its rows (at most the database's `max_rows`: more is `LimitExceeded`).
    pub fn query(&self, statement: &str, params: &[Value]) -> Result<Rows, DbError> {
        let len = self.check(sys::pg_query(self.handle, statement.as_bytes(), &encode_params(params)))?;
        let data = sys::read_sized(len as usize, |out| sys::pg_result(self.handle, out)).map_err(|c| DbError::from_code(c, Some(self.handle)))?;
        Rows::decode(&data).map_err(|e| DbError { code: e, sqlstate: None, message: "the host's result did not parse".to_string(), detail: None })
    }

    /// Runs a statement and returns the number of rows it affected.
    pub fn execute(&self, statement: &str, params: &[Value]) -> Result<u64, DbError> {
        let mut out = [0u8; 8];
        self.check(sys::pg_execute(self.handle, statement.as_bytes(), &encode_params(params), &mut out))?;
        Ok(u64::from_le_bytes(out))
    }

    pub fn begin(&self) -> Result<(), DbError> {
        self.check(sys::pg_begin(self.handle)).map(|_| ())
    }

    /// Commits; a transaction in which a statement failed is rolled back instead: `Conflict`, SQLSTATE 25P02.
    pub fn commit(&self) -> Result<(), DbError> {
        self.check(sys::pg_commit(self.handle)).map(|_| ())
    }

    pub fn rollback(&self) -> Result<(), DbError> {
        self.check(sys::pg_rollback(self.handle)).map(|_| ())
    }

    /// Runs `f` in a transaction: committed if it returns `Ok`, rolled back if it returns `Err`
    /// (the error is returned as is).
    pub fn transaction<T, F>(&self, f: F) -> Result<T, DbError>
    where
        F: FnOnce(&Connection) -> Result<T, DbError>,
    {
        self.begin()?;
        match f(self) {
            Ok(v) => self.commit().map(|_| v),
            Err(e) => {
                let _ = self.rollback();
                Err(e)
            }
        }
    }

    /// Closes the handle now, rolling back an open transaction.
    pub fn close(self) -> Result<(), DbError> {
        self.check(sys::pg_close(self.handle)).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Host, PgAnswer, PgCall, PgOp};

    fn users() -> Rows {
        Rows {
            columns: vec![Column { name: "id".into(), type_name: "int8".into() }, Column { name: "tags".into(), type_name: "text[]".into() }],
            rows: vec![vec![Value::Int(7), Value::Array(vec![Value::text("a"), Value::Null])]],
        }
    }

    #[test]
    fn a_result_survives_the_encoding_and_is_read_by_column_name() {
        let host = Host::new();
        host.install().grant_databases(&["main"]).on_pg(|call: &PgCall| {
            assert_eq!(call.sql, "SELECT id, tags FROM users WHERE email = $1");
            assert_eq!(call.params, vec![Value::text("x'); DROP TABLE users; --")]);
            Ok(PgAnswer::Rows(users()))
        });
        let db = Connection::open("main").unwrap();
        let rows = db.query("SELECT id, tags FROM users WHERE email = $1", &[Value::text("x'); DROP TABLE users; --")]).unwrap();
        assert_eq!(rows, users());
        assert_eq!(rows.first().unwrap().get("id").and_then(Value::as_i64), Some(7));
        assert_eq!(rows.first().unwrap().get("tags").and_then(Value::as_array).map(|a| a.len()), Some(2));
    }

    #[test]
    fn every_value_kind_round_trips() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(i64::MIN),
            Value::Float(1.25),
            Value::text("héllo"),
            Value::Bytes(vec![0, 255]),
            Value::Numeric("12.50".into()),
            Value::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into()),
            Value::Json("{}".into()),
            Value::Date("2024-05-01".into()),
            Value::Time("13:45:00".into()),
            Value::Timestamp("2024-05-01T13:45:00".into()),
            Value::TimestampTz("2024-05-01T13:45:00Z".into()),
            Value::Interval("P1D".into()),
            Value::Array(vec![Value::Array(vec![Value::Int(1)]), Value::Null]),
        ];
        let set = Rows { columns: values.iter().map(|_| Column { name: "c".into(), type_name: "t".into() }).collect(), rows: vec![values.clone()] };
        assert_eq!(Rows::decode(&set.encode()).unwrap(), set);
        assert_eq!(Rows::decode(&set.encode()[..10]), Err(Error::Other(MALFORMED)));
    }

    #[test]
    fn a_database_error_carries_its_sqlstate() {
        let host = Host::new();
        host.install().grant_databases(&["main"]).on_pg(|call: &PgCall| match call.op {
            PgOp::Execute => Err(DbError { code: Error::Conflict, sqlstate: Some("23505".into()), message: "duplicate key value".into(), detail: Some("Key (email)".into()) }),
            _ => Ok(PgAnswer::Done),
        });
        let db = Connection::open("main").unwrap();
        let e = db.execute("INSERT INTO users (email) VALUES ($1)", &["a@b".into()]).unwrap_err();
        assert!(e.is_unique_violation());
        assert_eq!(e.code, Error::Conflict);
        assert_eq!(e.detail.as_deref(), Some("Key (email)"));
        assert_eq!(Connection::open("other").unwrap_err().code, Error::AccessDenied);
    }

    #[test]
    fn a_transaction_commits_on_ok_and_rolls_back_on_err() {
        let host = Host::new();
        host.install().grant_databases(&["main"]).on_pg(|_: &PgCall| Ok(PgAnswer::Affected(1)));
        let db = Connection::open("main").unwrap();
        db.transaction(|tx| tx.execute("INSERT 1", &[]).map(|_| ())).unwrap();
        let failed: Result<(), DbError> = db.transaction(|_| Err(DbError { code: Error::InvalidArgument, sqlstate: None, message: "no".into(), detail: None }));
        assert!(failed.is_err());
        let ops: Vec<PgOp> = host.pg_calls().into_iter().map(|c| c.op).collect();
        assert_eq!(ops, vec![PgOp::Begin, PgOp::Execute, PgOp::Commit, PgOp::Begin, PgOp::Rollback]);
    }
}
