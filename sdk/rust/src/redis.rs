//! Redis (`redis_open`, `redis_execute`, `redis_result` in docs/abi.md; docs/data.md).
//!
//! A [`Connection`] is opened by the name of a `[redis.NAME]` the component is granted
//! (`redis = ["cache"]`: the URL and its password stay with the host), or by a `redis://`
//! address its `allowed_outbound_hosts` allows. Every command goes through [`Connection::execute`],
//! and the host runs only the data commands on its allow-list (`CONFIG`, `FLUSHALL`, `KEYS`,
//! `SCRIPT`, `MULTI`, `SUBSCRIBE`, ... answer `AccessDenied`); the typed methods are that call
//! with the arguments laid out.
//!
//! ```no_run
//! use verge_sdk::redis::Connection;
//! let cache = Connection::open("cache")?;
//! cache.set_ex("session:42", b"ada", 3600)?;
//! let visits = cache.incr("visits")?;
//! cache.publish("events", format!("visit {}", visits).as_bytes())?;
//! # Ok::<(), verge_sdk::Error>(())
//! ```

use crate::error::{Error, Result, MALFORMED};
use crate::sys;

/// One value of a reply. Arrays are flattened into the list [`Connection::execute`] returns, as
/// Spin's `redis-result` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A missing key or element.
    Nil,
    /// A status reply, e.g. `OK`.
    Status(String),
    /// An integer reply.
    Int(i64),
    /// A bulk string (any bytes).
    Bytes(Vec<u8>),
}

impl Value {
    /// The bytes of a bulk string or a status; `None` for nil and integers.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

/// A connection to a Redis server, valid until the end of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    handle: i32,
}

impl Connection {
    /// Opens a granted `[redis.NAME]` by name, or a `redis://` / `rediss://` address the
    /// component's `allowed_outbound_hosts` allows. `AccessDenied` when neither grants it,
    /// `Unavailable` when the server cannot be reached (or its circuit breaker is open).
    pub fn open(name_or_address: &str) -> Result<Connection> {
        let rc = sys::redis_open(name_or_address.as_bytes());
        if rc < 0 {
            return Err(Error::from_code(rc));
        }
        Ok(Connection { handle: rc })
    }

    /// Runs one command with its arguments and returns the reply, flattened. Error replies come
    /// back as errors: `NotANumber` (not an integer or float), `InvalidArgument` (wrong type,
    /// syntax), `AccessDenied` (not on the allow-list).
    pub fn execute<A: AsRef<[u8]>>(&self, command: &str, args: &[A]) -> Result<Vec<Value>> {
        let mut block = Vec::new();
        for a in args {
            let a = a.as_ref();
            block.extend_from_slice(&(a.len() as u32).to_le_bytes());
            block.extend_from_slice(a);
        }
        let n = sys::redis_execute(self.handle, command.as_bytes(), &block);
        if n < 0 {
            return Err(Error::from_code(n));
        }
        // The reply is kept by the host: read it whole, without running the command again.
        let bytes = sys::read_sized(n as usize, |out| sys::redis_result(self.handle, out)).map_err(Error::from_code)?;
        decode_items(&bytes).ok_or(Error::Other(MALFORMED))
    }

    fn one(&self, command: &str, args: &[&[u8]]) -> Result<Value> {
        let mut items = self.execute(command, args)?;
        if items.len() != 1 {
            return Err(Error::Other(MALFORMED));
        }
        Ok(items.remove(0))
    }

    fn int(&self, command: &str, args: &[&[u8]]) -> Result<i64> {
        match self.one(command, args)? {
            Value::Int(n) => Ok(n),
            _ => Err(Error::Other(MALFORMED)),
        }
    }

    /// `GET`: the value, or `None` when the key does not exist.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self.one("GET", &[key.as_bytes()])? {
            Value::Nil => Ok(None),
            Value::Bytes(b) => Ok(Some(b)),
            _ => Err(Error::Other(MALFORMED)),
        }
    }

    /// `SET`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.one("SET", &[key.as_bytes(), value]).map(|_| ())
    }

    /// `SET key value EX seconds`: the key expires after `ttl_seconds`.
    pub fn set_ex(&self, key: &str, value: &[u8], ttl_seconds: u64) -> Result<()> {
        let ttl = ttl_seconds.to_string();
        self.one("SET", &[key.as_bytes(), value, b"EX", ttl.as_bytes()]).map(|_| ())
    }

    /// `DEL`: how many of the keys existed.
    pub fn del(&self, keys: &[&str]) -> Result<u64> {
        let args: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
        self.int("DEL", &args).map(|n| n as u64)
    }

    /// `EXISTS`.
    pub fn exists(&self, key: &str) -> Result<bool> {
        self.int("EXISTS", &[key.as_bytes()]).map(|n| n > 0)
    }

    /// `INCR`: the new value (a missing key counts as 0).
    pub fn incr(&self, key: &str) -> Result<i64> {
        self.int("INCR", &[key.as_bytes()])
    }

    /// `INCRBY`.
    pub fn incr_by(&self, key: &str, delta: i64) -> Result<i64> {
        self.int("INCRBY", &[key.as_bytes(), delta.to_string().as_bytes()])
    }

    /// `EXPIRE`: false when the key does not exist.
    pub fn expire(&self, key: &str, seconds: u64) -> Result<bool> {
        self.int("EXPIRE", &[key.as_bytes(), seconds.to_string().as_bytes()]).map(|n| n == 1)
    }

    /// `SADD`: how many members were new.
    pub fn sadd(&self, key: &str, members: &[&str]) -> Result<u64> {
        let mut args: Vec<&[u8]> = vec![key.as_bytes()];
        args.extend(members.iter().map(|m| m.as_bytes()));
        self.int("SADD", &args).map(|n| n as u64)
    }

    /// `SREM`: how many members were removed.
    pub fn srem(&self, key: &str, members: &[&str]) -> Result<u64> {
        let mut args: Vec<&[u8]> = vec![key.as_bytes()];
        args.extend(members.iter().map(|m| m.as_bytes()));
        self.int("SREM", &args).map(|n| n as u64)
    }

    /// `SMEMBERS`, in no particular order.
    pub fn smembers(&self, key: &str) -> Result<Vec<Vec<u8>>> {
        bytes_list(self.execute("SMEMBERS", &[key.as_bytes()])?)
    }

    /// `SISMEMBER`.
    pub fn sismember(&self, key: &str, member: &str) -> Result<bool> {
        self.int("SISMEMBER", &[key.as_bytes(), member.as_bytes()]).map(|n| n == 1)
    }

    /// `HSET` of one field: true when the field is new.
    pub fn hset(&self, key: &str, field: &str, value: &[u8]) -> Result<bool> {
        self.int("HSET", &[key.as_bytes(), field.as_bytes(), value]).map(|n| n == 1)
    }

    /// `HGET`: the field's value, or `None`.
    pub fn hget(&self, key: &str, field: &str) -> Result<Option<Vec<u8>>> {
        match self.one("HGET", &[key.as_bytes(), field.as_bytes()])? {
            Value::Nil => Ok(None),
            Value::Bytes(b) => Ok(Some(b)),
            _ => Err(Error::Other(MALFORMED)),
        }
    }

    /// `HGETALL`: the fields and their values.
    pub fn hgetall(&self, key: &str) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let flat = bytes_list(self.execute("HGETALL", &[key.as_bytes()])?)?;
        if flat.len() % 2 != 0 {
            return Err(Error::Other(MALFORMED));
        }
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            out.push((f, v));
        }
        Ok(out)
    }

    /// `HDEL`: how many fields were removed.
    pub fn hdel(&self, key: &str, fields: &[&str]) -> Result<u64> {
        let mut args: Vec<&[u8]> = vec![key.as_bytes()];
        args.extend(fields.iter().map(|f| f.as_bytes()));
        self.int("HDEL", &args).map(|n| n as u64)
    }

    /// `HINCRBY`.
    pub fn hincr_by(&self, key: &str, field: &str, delta: i64) -> Result<i64> {
        self.int("HINCRBY", &[key.as_bytes(), field.as_bytes(), delta.to_string().as_bytes()])
    }

    /// `PUBLISH`: how many subscribers received the message (a `[[trigger.redis]]` on a node counts as one).
    pub fn publish(&self, channel: &str, message: &[u8]) -> Result<u64> {
        self.int("PUBLISH", &[channel.as_bytes(), message]).map(|n| n as u64)
    }
}

fn bytes_list(items: Vec<Value>) -> Result<Vec<Vec<u8>>> {
    items
        .into_iter()
        .map(|v| match v {
            Value::Bytes(b) => Ok(b),
            _ => Err(Error::Other(MALFORMED)),
        })
        .collect()
}

const NIL: u8 = 0;
const STATUS: u8 = 1;
const INT: u8 = 2;
const BYTES: u8 = 3;

/// The ABI's reply layout: `[u8 tag]` then nothing (nil), `[u32][UTF-8]` (status), `[i64]`
/// (integer) or `[u32][bytes]` (bulk), little-endian.
pub(crate) fn decode_items(bytes: &[u8]) -> Option<Vec<Value>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let sized = |at: &mut usize| -> Option<Vec<u8>> {
        let len = u32::from_le_bytes(bytes.get(*at..*at + 4)?.try_into().ok()?) as usize;
        *at += 4;
        let data = bytes.get(*at..*at + len)?.to_vec();
        *at += len;
        Some(data)
    };
    while at < bytes.len() {
        let tag = bytes[at];
        at += 1;
        out.push(match tag {
            NIL => Value::Nil,
            STATUS => Value::Status(String::from_utf8(sized(&mut at)?).ok()?),
            INT => {
                let v = i64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?);
                at += 8;
                Value::Int(v)
            }
            BYTES => Value::Bytes(sized(&mut at)?),
            _ => return None,
        });
    }
    Some(out)
}

/// The same layout, written (the fake host in [`crate::mock`] answers with it).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn encode_items(items: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Value::Nil => out.push(NIL),
            Value::Status(s) => {
                out.push(STATUS);
                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Int(n) => {
                out.push(INT);
                out.extend_from_slice(&n.to_le_bytes());
            }
            Value::Bytes(b) => {
                out.push(BYTES);
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::Host;
    use std::collections::HashMap;

    /// A tiny Redis in the fake host: strings, counters and sets, enough for the typed methods.
    fn fake() -> Host {
        let host = Host::new();
        let mut strings: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut sets: HashMap<Vec<u8>, Vec<Vec<u8>>> = HashMap::new();
        host.install().on_redis(move |call| {
            let a = &call.args;
            Ok(match call.command.as_str() {
                "GET" => vec![strings.get(&a[0]).map_or(Value::Nil, |v| Value::Bytes(v.clone()))],
                "SET" => {
                    strings.insert(a[0].clone(), a[1].clone());
                    vec![Value::Status("OK".into())]
                }
                "INCR" => {
                    let n = strings.get(&a[0]).map_or(0, |v| String::from_utf8_lossy(v).parse::<i64>().unwrap()) + 1;
                    strings.insert(a[0].clone(), n.to_string().into_bytes());
                    vec![Value::Int(n)]
                }
                "SADD" => {
                    let set = sets.entry(a[0].clone()).or_default();
                    let before = set.len();
                    for m in &a[1..] {
                        if !set.contains(m) {
                            set.push(m.clone());
                        }
                    }
                    vec![Value::Int((set.len() - before) as i64)]
                }
                "SMEMBERS" => sets.get(&a[0]).map_or(vec![], |s| s.iter().cloned().map(Value::Bytes).collect()),
                "FLUSHALL" => return Err(Error::AccessDenied),
                _ => return Err(Error::InvalidArgument),
            })
        });
        host
    }

    #[test]
    fn typed_methods_send_the_commands_they_name() {
        let host = fake();
        let c = Connection::open("cache").unwrap();
        assert_eq!(c.get("k").unwrap(), None);
        c.set("k", b"v\x00\xff").unwrap();
        assert_eq!(c.get("k").unwrap(), Some(b"v\x00\xff".to_vec()));
        assert_eq!(c.incr("n").unwrap(), 1);
        assert_eq!(c.incr("n").unwrap(), 2);
        assert_eq!(c.sadd("s", &["a", "b", "a"]).unwrap(), 2);
        assert_eq!(c.smembers("s").unwrap(), vec![b"a".to_vec(), b"b".to_vec()]);
        let calls = host.redis_calls();
        assert_eq!(calls[1].command, "SET");
        assert_eq!(calls[1].args, vec![b"k".to_vec(), b"v\x00\xff".to_vec()]);
        assert!(calls.iter().all(|c| c.target == "cache"));
        c.set_ex("t", b"x", 60).unwrap();
        assert_eq!(host.redis_calls().last().unwrap().args, vec![b"t".to_vec(), b"x".to_vec(), b"EX".to_vec(), b"60".to_vec()]);
    }

    #[test]
    fn execute_returns_the_reply_and_errors_carry_the_host_code() {
        let _host = fake();
        let c = Connection::open("redis://127.0.0.1:6379").unwrap();
        assert_eq!(c.execute("set", &["k", "v"]).unwrap(), vec![Value::Status("OK".into())]);
        assert_eq!(c.execute("FLUSHALL", &[] as &[&str]), Err(Error::AccessDenied));
        assert_eq!(c.execute("NOPE", &["x"]), Err(Error::InvalidArgument));
    }

    #[test]
    fn a_denied_connection_is_access_denied() {
        let host = fake();
        host.deny_redis("secret");
        assert_eq!(Connection::open("secret"), Err(Error::AccessDenied));
    }

    #[test]
    fn the_reply_layout_round_trips() {
        let items = vec![Value::Nil, Value::Status("OK".into()), Value::Int(-7), Value::Bytes(vec![0, 255])];
        assert_eq!(decode_items(&encode_items(&items)).unwrap(), items);
        assert_eq!(decode_items(&[3, 5, 0, 0, 0, 1]), None);
        assert_eq!(decode_items(&[9]), None);
    }
}
