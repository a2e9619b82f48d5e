// Minimal WAGI (CGI 1.1 over WASI preview1) plumbing: request metadata from
// environment variables, the body from stdin, the response to stdout.
//
// Talks to the raw WASI imports (via the wasi-shim bindings) instead of
// `process.env`, so only the variables actually asked for get decoded.

import { uitoa } from "./json";
import { Utf8Builder } from "./utf8";

import {
  environ_get,
  environ_sizes_get,
  fd_read,
  fd_write,
  random_get,
} from "bindings/wasi_snapshot_preview1";

// Scratch space for WASI out-parameters and up to two iovecs.
const scratch = memory.data(32);

// The raw environment block ("NAME=value\0" strings plus a pointer table).
let envCount: i32 = -1;
let envPtrs: usize = 0;

function loadEnv(): void {
  envCount = 0;
  if (environ_sizes_get(scratch, scratch + 4) != 0) return;
  let count = load<u32>(scratch);
  let dataSize = load<u32>(scratch, 4);
  let block = __alloc(<usize>count * sizeof<usize>() + dataSize);
  if (environ_get(block, block + <usize>count * sizeof<usize>()) != 0) return;
  envPtrs = block;
  envCount = <i32>count;
}

/** Returns the environment variable `name`, or `fallback` if it is not set. */
export function getenv(name: string, fallback: string = ""): string {
  if (envCount < 0) loadEnv();
  let nameLen = name.length;
  let namePtr = changetype<usize>(name);
  for (let i = 0; i < envCount; ++i) {
    let entry = load<usize>(envPtrs + (<usize>i * sizeof<usize>()));
    let j = 0;
    // Names are ASCII, so compare UTF-16 units of `name` against bytes.
    while (j < nameLen && <u32>load<u8>(entry + j) == <u32>load<u16>(namePtr + (<usize>j << 1))) ++j;
    if (j == nameLen && load<u8>(entry + j) == 0x3D /* = */) {
      let value = entry + j + 1;
      let end = value;
      while (load<u8>(end) != 0) ++end;
      return String.UTF8.decodeUnsafe(value, end - value);
    }
  }
  return fallback;
}

/**
 * Reads the request body from stdin (up to CONTENT_LENGTH bytes, or to EOF if
 * no length was given). Returns null if it would exceed `limit` bytes.
 */
export function readBody(limit: i32): Uint8Array | null {
  let declared = getenv("CONTENT_LENGTH");
  let expected: i32 = -1;
  if (declared.length > 0) {
    let n = parseLength(declared);
    if (n > <i64>limit) return null;
    if (n >= 0) expected = <i32>n;
  }
  let cap = expected >= 0 ? expected : 4096;
  let buf = new Uint8Array(cap);
  let len = 0;
  while (expected < 0 || len < expected) {
    if (len == cap) {
      if (cap >= limit) { // unknown length and still more data: too large
        if (readSome(buf, len) == 0) break;
        return null;
      }
      cap = min(cap << 1, limit);
      let bigger = new Uint8Array(cap);
      memory.copy(bigger.dataStart, buf.dataStart, len);
      buf = bigger;
    }
    let got = readSome(buf, len);
    if (got == 0) break; // EOF (or error): take what we have
    len += got;
  }
  return buf.subarray(0, len);
}

/** Parses a decimal CONTENT_LENGTH; -1 if malformed (then the body is read to EOF). */
function parseLength(s: string): i64 {
  let n: i64 = 0;
  for (let i = 0, k = s.length; i < k; ++i) {
    let d = <i32>s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
    if (n > 0x7FFFFFFF) return n; // far too large anyway; stop before overflow
  }
  return n;
}

/** One fd_read(0) into buf[offset..]; returns bytes read, 0 on EOF/error. */
function readSome(buf: Uint8Array, offset: i32): i32 {
  let room = buf.length - offset;
  if (room == 0) {
    // Probe for more data with a 1-byte read into scratch space.
    store<usize>(scratch, scratch + 12);
    store<usize>(scratch, 1, 4);
  } else {
    store<usize>(scratch, buf.dataStart + offset);
    store<usize>(scratch, room, 4);
  }
  if (fd_read(0, scratch, 1, scratch + 8) != 0) return 0;
  return <i32>load<u32>(scratch, 8);
}

/** Fills `buf` with bytes from the host's CSPRNG. */
export function randomBytes(buf: Uint8Array): void {
  random_get(buf.dataStart, buf.length);
}

/** Writes all of `data` to `fd`, retrying on short writes. */
function writeAll(fd: u32, data: usize, len: usize): void {
  while (len > 0) {
    store<usize>(scratch, data);
    store<usize>(scratch, len, 4);
    if (fd_write(fd, scratch, 1, scratch + 8) != 0) return;
    let written = <usize>load<u32>(scratch, 8);
    if (written == 0) return;
    data += written;
    len -= written;
  }
}

/** Writes a line to stderr, which the host forwards to its log. */
export function log(message: string): void {
  let line = new Utf8Builder(message.length + 1).text(message).text("\n");
  writeAll(2, line.ptr, line.length);
}

function reasonPhrase(status: i32): string {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Content Too Large";
    default: return "Unknown";
  }
}

/**
 * Writes a complete CGI response: a `status` line, `content-type`, any
 * `extraHeaders` (complete "name: value\n" lines), a blank line, the body.
 */
export function send(status: i32, contentType: string, body: Utf8Builder, extraHeaders: string = ""): void {
  let head = new Utf8Builder(128)
    .text("status: ").text(uitoa(status)).text(" ").text(reasonPhrase(status))
    .text("\ncontent-type: ").text(contentType)
    .text("\n").text(extraHeaders)
    .text("\n");
  // One gather write for head + body; fall back to writeAll on short writes.
  store<usize>(scratch, head.ptr);
  store<usize>(scratch, head.length, 4);
  store<usize>(scratch, body.ptr, 8);
  store<usize>(scratch, body.length, 12);
  if (fd_write(1, scratch, 2, scratch + 16) != 0) return;
  let written = <usize>load<u32>(scratch, 16);
  if (written < head.length) {
    writeAll(1, head.ptr + written, head.length - written);
    writeAll(1, body.ptr, body.length);
  } else {
    written -= head.length;
    writeAll(1, body.ptr + written, body.length - written);
  }
}
