// PostgreSQL (pg_* in docs/abi.md; docs/data.md has the manifest, types, limits and errors).
// Open a database granted to the component (databases = ["main"]) by its name, or a postgres://
// address allowed by allowed_outbound_hosts. Statements are parameterised: write $1, $2, ... and
// pass Values; a value is never spliced into the statement's text.
//
//   let db = Connection.open("main");
//   let rows = db.value.query("SELECT id, name FROM users WHERE email = $1", [Value.text(email)]);
//   if (rows.ok && rows.value.length > 0) { let name = rows.value.get(0, "name")!.text; }

import { ErrorCode, Result, err, ok } from "./errors";
import * as sys from "./sys";

// --- the raw imports -------------------------------------------------------------------------

@external("verge:v1", "pg_open")
declare function pg_open(addr_ptr: i32, addr_len: i32): i32;
@external("verge:v1", "pg_query")
declare function pg_query(conn: i32, stmt_ptr: i32, stmt_len: i32, params_ptr: i32, params_len: i32): i32;
@external("verge:v1", "pg_result")
declare function pg_result(conn: i32, out_ptr: i32, out_cap: i32): i32;
@external("verge:v1", "pg_execute")
declare function pg_execute(conn: i32, stmt_ptr: i32, stmt_len: i32, params_ptr: i32, params_len: i32, out_ptr: i32): i32;
@external("verge:v1", "pg_begin")
declare function pg_begin(conn: i32): i32;
@external("verge:v1", "pg_commit")
declare function pg_commit(conn: i32): i32;
@external("verge:v1", "pg_rollback")
declare function pg_rollback(conn: i32): i32;
@external("verge:v1", "pg_error")
declare function pg_error(conn: i32, out_ptr: i32, out_cap: i32): i32;
@external("verge:v1", "pg_close")
declare function pg_close(conn: i32): i32;

/** The value tags of the verge:v1 encoding. */
export enum Kind {
  Null = 0,
  Bool = 1,
  Int = 2,
  Float = 3,
  Text = 4,
  Bytes = 5,
  Numeric = 6,
  Uuid = 7,
  Json = 8,
  Date = 9,
  Time = 10,
  Timestamp = 11,
  TimestampTz = 12,
  Array = 13,
  Interval = 14,
}

/**
 * A parameter or a result value. `kind` says which field holds it: `int` (Int), `float` (Float),
 * `bool` (Bool), `bytes` (Bytes), `items` (Array), and `text` for every text-like kind (Text,
 * Numeric as exact decimal text, Uuid, Json, dates and times as ISO 8601, Interval).
 */
export class Value {
  int: i64 = 0;
  float: f64 = 0;
  bool: bool = false;
  text: string = "";
  bytes: Uint8Array = new Uint8Array(0);
  items: Value[] = [];

  constructor(public readonly kind: i32) {}

  static null(): Value { return new Value(Kind.Null); }
  static boolean(b: bool): Value { let v = new Value(Kind.Bool); v.bool = b; return v; }
  static integer(n: i64): Value { let v = new Value(Kind.Int); v.int = n; return v; }
  static number(f: f64): Value { let v = new Value(Kind.Float); v.float = f; return v; }
  static text(s: string): Value { return Value.textOf(Kind.Text, s); }
  static numeric(s: string): Value { return Value.textOf(Kind.Numeric, s); }
  static json(s: string): Value { return Value.textOf(Kind.Json, s); }
  static binary(b: Uint8Array): Value { let v = new Value(Kind.Bytes); v.bytes = b; return v; }
  static array(items: Value[]): Value { let v = new Value(Kind.Array); v.items = items; return v; }
  /** A text-like value of `kind` (Kind.Uuid, Kind.Date, Kind.TimestampTz, ...). */
  static textOf(kind: i32, s: string): Value { let v = new Value(kind); v.text = s; return v; }

  get isNull(): bool { return this.kind == Kind.Null; }

  encode(out: Array<u8>): void {
    let payload = new Array<u8>();
    switch (this.kind) {
      case Kind.Null: break;
      case Kind.Bool: payload.push(this.bool ? 1 : 0); break;
      case Kind.Int: pushLE(payload, this.int); break;
      case Kind.Float: pushLE(payload, reinterpret<i64>(this.float)); break;
      case Kind.Bytes: for (let i = 0; i < this.bytes.length; ++i) payload.push(this.bytes[i]); break;
      case Kind.Array: for (let i = 0; i < this.items.length; ++i) this.items[i].encode(payload); break;
      default: {
        let t = Uint8Array.wrap(sys.utf8(this.text));
        for (let i = 0; i < t.length; ++i) payload.push(t[i]);
      }
    }
    out.push(<u8>this.kind);
    pushU32(out, payload.length);
    for (let i = 0; i < payload.length; ++i) out.push(payload[i]);
  }
}

function pushLE(out: Array<u8>, n: i64): void {
  for (let i = 0; i < 8; ++i) out.push(<u8>((n >> (i * 8)) & 0xff));
}

function pushU32(out: Array<u8>, n: i32): void {
  for (let i = 0; i < 4; ++i) out.push(<u8>((n >> (i * 8)) & 0xff));
}

function encodeParams(params: Value[]): Uint8Array {
  let out = new Array<u8>();
  for (let i = 0; i < params.length; ++i) params[i].encode(out);
  let bytes = new Uint8Array(out.length);
  for (let i = 0; i < out.length; ++i) bytes[i] = out[i];
  return bytes;
}

/** A result column: its name and PostgreSQL type ("int4", "text[]", "oid N"). */
export class Column {
  constructor(public readonly name: string, public readonly typeName: string) {}
}

/** A query's result. */
export class Rows {
  columns: Column[] = [];
  rows: Array<Value[]> = [];

  get length(): i32 { return this.rows.length; }

  /** The index of the column `name`, or -1. */
  column(name: string): i32 {
    for (let i = 0; i < this.columns.length; ++i) if (this.columns[i].name == name) return i;
    return -1;
  }

  /** The value of the column `name` in row `row`, or null when there is no such column or row. */
  get(row: i32, name: string): Value | null {
    let c = this.column(name);
    if (c < 0 || row < 0 || row >= this.rows.length) return null;
    return this.rows[row][c];
  }
}

class Reader {
  at: i32 = 0;
  bad: bool = false;
  constructor(public data: Uint8Array) {}

  need(n: i32): bool {
    if (n < 0 || this.at + n > this.data.length) this.bad = true;
    return !this.bad;
  }

  u32(): i32 {
    if (!this.need(4)) return 0;
    let d = this.data;
    let n = <i32>d[this.at] | (<i32>d[this.at + 1] << 8) | (<i32>d[this.at + 2] << 16) | (<i32>d[this.at + 3] << 24);
    this.at += 4;
    return n;
  }

  string(): string {
    let n = this.u32();
    if (!this.need(n)) return "";
    let s = sys.decode(this.data.subarray(this.at, this.at + n));
    this.at += n;
    return s;
  }

  value(): Value {
    if (!this.need(1)) return Value.null();
    let tag = <i32>this.data[this.at++];
    let n = this.u32();
    if (!this.need(n)) return Value.null();
    let payload = this.data.subarray(this.at, this.at + n);
    this.at += n;
    let v = new Value(tag);
    if (tag == Kind.Null) return v;
    if (tag == Kind.Bool) v.bool = n > 0 && payload[0] != 0;
    else if (tag == Kind.Int || tag == Kind.Float) {
      if (n != 8) { this.bad = true; return v; }
      let x: i64 = 0;
      for (let i = 7; i >= 0; --i) x = (x << 8) | <i64>payload[i];
      if (tag == Kind.Int) v.int = x;
      else v.float = reinterpret<f64>(x);
    } else if (tag == Kind.Bytes) v.bytes = payload.slice(0);
    else if (tag == Kind.Array) {
      let inner = new Reader(payload);
      while (inner.at < payload.length && !inner.bad) v.items.push(inner.value());
      if (inner.bad) this.bad = true;
    } else v.text = sys.decode(payload); // text-like kinds, and tags from a newer host
    return v;
  }
}

function decodeRows(data: Uint8Array): Result<Rows> {
  let r = new Reader(data);
  let rows = new Rows();
  let columns = r.u32();
  for (let i = 0; i < columns && !r.bad; ++i) {
    let name = r.string();
    rows.columns.push(new Column(name, r.string()));
  }
  let count = r.u32();
  for (let i = 0; i < count && !r.bad; ++i) {
    let row = new Array<Value>();
    for (let c = 0; c < columns && !r.bad; ++c) row.push(r.value());
    rows.rows.push(row);
  }
  if (r.bad || r.at != data.length) return err<Rows>(ErrorCode.Malformed);
  return ok<Rows>(rows);
}

/** The last failure on a connection: PostgreSQL's SQLSTATE (empty for Verge's own refusals), message and detail. */
export class DbError {
  constructor(
    public readonly code: i32,
    public readonly sqlstate: string,
    public readonly message: string,
    public readonly detail: string,
  ) {}

  /** A duplicate key (SQLSTATE 23505). */
  get isUniqueViolation(): bool { return this.sqlstate == "23505"; }
}

// Scratch space for pg_execute's u64 result.
const AFFECTED_OUT = memory.data(8, 8);

/** A connection; the handle lasts until the end of the request (a transaction left open then is rolled back). */
export class Connection {
  /** The code of the last call (0 or a negative ErrorCode). */
  lastCode: i32 = 0;

  constructor(public readonly handle: i32) {}

  /** Opens a database granted in `databases`, or a postgres:// address allowed by allowed_outbound_hosts. */
  static open(nameOrUrl: string): Result<Connection> {
    let a = sys.utf8(nameOrUrl);
    let rc = pg_open(sys.ptr(a), a.byteLength);
    if (rc < 0) return err<Connection>(rc);
    return ok<Connection>(new Connection(rc));
  }

  /** Runs a statement and returns its rows. On an error, `lastError()` tells the SQLSTATE. */
  query(statement: string, params: Value[] = []): Result<Rows> {
    let s = sys.utf8(statement);
    let p = encodeParams(params);
    let n = pg_query(this.handle, sys.ptr(s), s.byteLength, sys.bytesPtr(p), p.length);
    this.lastCode = n < 0 ? n : 0;
    if (n < 0) return err<Rows>(n);
    let buf = new Uint8Array(n);
    let got = pg_result(this.handle, sys.bytesPtr(buf), buf.length);
    if (got < 0) return err<Rows>(got);
    if (got != n) return err<Rows>(ErrorCode.Malformed);
    return decodeRows(buf);
  }

  /** Runs a statement and returns the number of rows it affected. */
  execute(statement: string, params: Value[] = []): Result<i64> {
    let s = sys.utf8(statement);
    let p = encodeParams(params);
    let rc = pg_execute(this.handle, sys.ptr(s), s.byteLength, sys.bytesPtr(p), p.length, <i32>AFFECTED_OUT);
    this.lastCode = rc < 0 ? rc : 0;
    if (rc < 0) return err<i64>(rc);
    return ok<i64>(load<i64>(AFFECTED_OUT));
  }

  /** Begins a transaction: 0, or a negative ErrorCode. */
  begin(): i32 { return (this.lastCode = pg_begin(this.handle)); }
  /** Commits: 0, or a negative ErrorCode (Conflict, SQLSTATE 25P02: a statement in it had failed, so it was rolled back). */
  commit(): i32 { return (this.lastCode = pg_commit(this.handle)); }
  rollback(): i32 { return (this.lastCode = pg_rollback(this.handle)); }
  /** Closes the handle now, rolling back an open transaction. */
  close(): i32 { return pg_close(this.handle); }

  /** What the last call that failed on this connection reported, or null after a success. */
  lastError(): DbError | null {
    let buf = new Uint8Array(512);
    let n = pg_error(this.handle, sys.bytesPtr(buf), buf.length);
    if (n > buf.length) {
      buf = new Uint8Array(n);
      n = pg_error(this.handle, sys.bytesPtr(buf), buf.length);
    }
    if (n <= 0 || n > buf.length) return null;
    let lines = sys.decode(buf.subarray(0, n)).split("\n", 3);
    let first = lines.length > 0 ? lines[0] : "";
    let sqlstate = first.length == 5 && first.toUpperCase() == first && first.indexOf("_") < 0 ? first : "";
    return new DbError(this.lastCode, sqlstate, lines.length > 1 ? lines[1] : "", lines.length > 2 ? lines[2] : "");
  }
}
