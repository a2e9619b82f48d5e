// Redis (redis_* in docs/abi.md; docs/data.md). A connection is opened by the name of a
// [redis.NAME] the component is granted (redis = ["cache"]: the URL stays with the host), or by a
// redis:// address its allowed_outbound_hosts allows. Every command goes through execute, and the
// host runs only the data commands on its allow-list (CONFIG, FLUSHALL, KEYS, SCRIPT, MULTI,
// SUBSCRIBE, ... answer ErrorCode.AccessDenied); the typed methods are execute with the
// arguments laid out.

import { ErrorCode, Result, err, ok } from "./errors";
import * as sys from "./sys";

/** The kind of one reply value (the ABI's item tag). */
export enum RedisValueKind {
  Nil = 0,
  Status = 1,
  Int = 2,
  Bytes = 3,
}

/** One value of a reply; arrays are flattened into the list execute returns. */
export class RedisValue {
  constructor(public readonly kind: RedisValueKind, public readonly bytes: Uint8Array | null, public readonly int: i64) {}

  /** A bulk string or status as UTF-8 text; "" for nil and integers. */
  get text(): string {
    let b = this.bytes;
    return b == null ? "" : sys.decode(b);
  }
}

/** Argument records: [u32 length, little-endian][bytes] each. */
function encodeArgs(args: Array<Uint8Array>): Uint8Array {
  let size = 0;
  for (let i = 0; i < args.length; i++) size += 4 + args[i].length;
  let out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; i < args.length; i++) {
    let a = args[i];
    store<u32>(out.dataStart + <usize>at, <u32>a.length);
    out.set(a, at + 4);
    at += 4 + a.length;
  }
  return out;
}

/** The reply items: [u8 tag] then nothing, [u32][bytes] or [i64]. Null when malformed. */
function decodeItems(buf: Uint8Array): Array<RedisValue> | null {
  let out = new Array<RedisValue>();
  let at = 0;
  let n = buf.length;
  while (at < n) {
    let tag = <i32>buf[at];
    at += 1;
    if (tag == RedisValueKind.Nil) {
      out.push(new RedisValue(RedisValueKind.Nil, null, 0));
    } else if (tag == RedisValueKind.Int) {
      if (n - at < 8) return null;
      out.push(new RedisValue(RedisValueKind.Int, null, load<i64>(buf.dataStart + <usize>at)));
      at += 8;
    } else if (tag == RedisValueKind.Status || tag == RedisValueKind.Bytes) {
      if (n - at < 4) return null;
      let len = <i32>load<u32>(buf.dataStart + <usize>at);
      at += 4;
      if (len < 0 || len > n - at) return null;
      out.push(new RedisValue(<RedisValueKind>tag, buf.slice(at, at + len), 0));
      at += len;
    } else {
      return null;
    }
  }
  return out;
}

function bytesOf(s: string): Uint8Array {
  return Uint8Array.wrap(sys.utf8(s));
}

function stringArgs(first: string, rest: Array<string>): Array<Uint8Array> {
  let args = new Array<Uint8Array>();
  args.push(bytesOf(first));
  for (let i = 0; i < rest.length; i++) args.push(bytesOf(rest[i]));
  return args;
}

/** A connection to a Redis server, valid until the end of the request. */
export class Redis {
  constructor(public readonly handle: i32) {}

  /** Opens a granted [redis.NAME] by name, or an allowed redis:// address. */
  static open(nameOrAddress: string): Result<Redis> {
    let t = sys.utf8(nameOrAddress);
    let rc = sys.redis_open(sys.ptr(t), t.byteLength);
    if (rc < 0) return err<Redis>(rc);
    return ok<Redis>(new Redis(rc));
  }

  /**
   * Runs one command and returns its reply, flattened. Error replies are error codes:
   * NotANumber, InvalidArgument (a wrong type, a syntax error), AccessDenied (not allowed).
   */
  execute(command: string, args: Array<Uint8Array>): Result<Array<RedisValue>> {
    let c = sys.utf8(command);
    let block = encodeArgs(args);
    let n = sys.redis_execute(this.handle, sys.ptr(c), c.byteLength, sys.bytesPtr(block), block.length);
    if (n < 0) return err<Array<RedisValue>>(n);
    // The host keeps the reply: read it whole, without running the command again.
    let buf = new Uint8Array(n);
    let got = sys.redis_result(this.handle, sys.bytesPtr(buf), buf.length);
    if (got < 0) return err<Array<RedisValue>>(got);
    if (got != n) return err<Array<RedisValue>>(ErrorCode.Malformed);
    let items = decodeItems(buf);
    if (items == null) return err<Array<RedisValue>>(ErrorCode.Malformed);
    return ok<Array<RedisValue>>(items);
  }

  /** execute with text arguments. */
  executeStrings(command: string, args: Array<string>): Result<Array<RedisValue>> {
    let bytes = new Array<Uint8Array>();
    for (let i = 0; i < args.length; i++) bytes.push(bytesOf(args[i]));
    return this.execute(command, bytes);
  }

  private int(command: string, args: Array<Uint8Array>): Result<i64> {
    let r = this.execute(command, args);
    if (!r.ok) return err<i64>(r.code);
    let v = r.value;
    if (v.length != 1 || v[0].kind != RedisValueKind.Int) return err<i64>(ErrorCode.Malformed);
    return ok<i64>(v[0].int);
  }

  /** GET: the value, or null when the key does not exist. */
  get(key: string): Result<Uint8Array | null> {
    let r = this.execute("GET", [bytesOf(key)]);
    if (!r.ok) return err<Uint8Array | null>(r.code);
    let v = r.value;
    if (v.length != 1) return err<Uint8Array | null>(ErrorCode.Malformed);
    return ok<Uint8Array | null>(v[0].kind == RedisValueKind.Nil ? null : v[0].bytes);
  }

  /** GET as UTF-8 text, or null. */
  getString(key: string): Result<string | null> {
    let r = this.get(key);
    if (!r.ok) return err<string | null>(r.code);
    let v = r.value;
    return ok<string | null>(v == null ? null : sys.decode(v));
  }

  /** SET. Returns 0, or a negative ErrorCode. */
  set(key: string, value: Uint8Array): i32 {
    let r = this.execute("SET", [bytesOf(key), value]);
    return r.ok ? 0 : r.code;
  }

  /** SET key value EX ttlSeconds: the key expires. Returns 0, or a negative ErrorCode. */
  setEx(key: string, value: Uint8Array, ttlSeconds: i64): i32 {
    let r = this.execute("SET", [bytesOf(key), value, bytesOf("EX"), bytesOf(ttlSeconds.toString())]);
    return r.ok ? 0 : r.code;
  }

  /** DEL: how many of the keys existed. */
  del(keys: Array<string>): Result<i64> {
    let args = new Array<Uint8Array>();
    for (let i = 0; i < keys.length; i++) args.push(bytesOf(keys[i]));
    return this.int("DEL", args);
  }

  /** EXISTS. */
  exists(key: string): Result<bool> {
    let r = this.int("EXISTS", [bytesOf(key)]);
    return r.ok ? ok<bool>(r.value > 0) : err<bool>(r.code);
  }

  /** INCR: the new value (a missing key counts as 0). */
  incr(key: string): Result<i64> {
    return this.int("INCR", [bytesOf(key)]);
  }

  /** INCRBY. */
  incrBy(key: string, delta: i64): Result<i64> {
    return this.int("INCRBY", [bytesOf(key), bytesOf(delta.toString())]);
  }

  /** EXPIRE: false when the key does not exist. */
  expire(key: string, seconds: i64): Result<bool> {
    let r = this.int("EXPIRE", [bytesOf(key), bytesOf(seconds.toString())]);
    return r.ok ? ok<bool>(r.value == 1) : err<bool>(r.code);
  }

  /** SADD: how many members were new. */
  sadd(key: string, members: Array<string>): Result<i64> {
    return this.int("SADD", stringArgs(key, members));
  }

  /** SREM: how many members were removed. */
  srem(key: string, members: Array<string>): Result<i64> {
    return this.int("SREM", stringArgs(key, members));
  }

  /** SMEMBERS as text, in no particular order. */
  smembers(key: string): Result<Array<string>> {
    let r = this.execute("SMEMBERS", [bytesOf(key)]);
    if (!r.ok) return err<Array<string>>(r.code);
    let out = new Array<string>();
    let v = r.value;
    for (let i = 0; i < v.length; i++) out.push(v[i].text);
    return ok<Array<string>>(out);
  }

  /** HSET of one field: true when the field is new. */
  hset(key: string, field: string, value: string): Result<bool> {
    let r = this.int("HSET", [bytesOf(key), bytesOf(field), bytesOf(value)]);
    return r.ok ? ok<bool>(r.value == 1) : err<bool>(r.code);
  }

  /** HGET as text, or null. */
  hget(key: string, field: string): Result<string | null> {
    let r = this.execute("HGET", [bytesOf(key), bytesOf(field)]);
    if (!r.ok) return err<string | null>(r.code);
    let v = r.value;
    if (v.length != 1) return err<string | null>(ErrorCode.Malformed);
    return ok<string | null>(v[0].kind == RedisValueKind.Nil ? null : v[0].text);
  }

  /** HINCRBY. */
  hincrBy(key: string, field: string, delta: i64): Result<i64> {
    return this.int("HINCRBY", [bytesOf(key), bytesOf(field), bytesOf(delta.toString())]);
  }

  /** PUBLISH: how many subscribers received it. */
  publish(channel: string, message: Uint8Array): Result<i64> {
    return this.int("PUBLISH", [bytesOf(channel), message]);
  }
}
