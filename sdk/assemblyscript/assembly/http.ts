// The incoming request and the response, over WAGI (CGI/1.1 over WASI preview1; docs/wagi.md):
// the request is environment variables plus the body on stdin; the response goes to stdout.

import {
  environ_get,
  environ_sizes_get,
  fd_read,
  fd_write,
} from "bindings/wasi_snapshot_preview1";

// Scratch space for WASI out-parameters and one iovec.
const scratch = memory.data(16, 4);

/** The request: CGI variables, headers, route parameters, query and body. */
export class Request {
  /** All CGI variables, names and values in parallel arrays. */
  readonly envNames: Array<string> = new Array<string>();
  readonly envValues: Array<string> = new Array<string>();
  /** Request headers: names lower-case with "-" (from HTTP_*, plus content-type/-length). */
  readonly headerNames: Array<string> = new Array<string>();
  readonly headerValues: Array<string> = new Array<string>();
  /** Route parameters (X_VERGE_PARAM_*), names lower-case, values percent-decoded by the host. */
  readonly paramNames: Array<string> = new Array<string>();
  readonly paramValues: Array<string> = new Array<string>();
  /** The body bytes. */
  body: Uint8Array = new Uint8Array(0);

  /** Reads the request the host passed: the environment, and CONTENT_LENGTH bytes of stdin. */
  static fromEnv(): Request {
    let req = new Request();
    if (environ_sizes_get(scratch, scratch + 4) == 0) {
      let count = load<u32>(scratch);
      let size = load<u32>(scratch, 4);
      let table = new ArrayBuffer(<i32>(count * 4));
      let data = new ArrayBuffer(<i32>size);
      let tp = changetype<usize>(table);
      if (environ_get(tp, changetype<usize>(data)) == 0) {
        for (let i: u32 = 0; i < count; ++i) {
          let entry = load<usize>(tp + (<usize>i << 2));
          let end = entry;
          while (load<u8>(end) != 0) ++end;
          let eq = entry;
          while (eq < end && load<u8>(eq) != 0x3D /* = */) ++eq;
          req.addEnv(
            String.UTF8.decodeUnsafe(entry, eq - entry),
            eq < end ? String.UTF8.decodeUnsafe(eq + 1, end - eq - 1) : "",
          );
        }
      }
    }
    let length = req.env("CONTENT_LENGTH");
    req.body = readStdin(length == null ? -1 : parseLength(length));
    return req;
  }

  /** Builds a request from CGI variables and a body (for tests). */
  static fromParts(names: Array<string>, values: Array<string>, body: Uint8Array): Request {
    let req = new Request();
    for (let i = 0; i < names.length; ++i) req.addEnv(names[i], values[i]);
    req.body = body;
    return req;
  }

  private addEnv(name: string, value: string): void {
    this.envNames.push(name);
    this.envValues.push(value);
    if (name.startsWith("HTTP_")) {
      this.headerNames.push(headerName(name.substring(5)));
      this.headerValues.push(value);
    } else if (name == "CONTENT_TYPE") {
      this.headerNames.push("content-type");
      this.headerValues.push(value);
    } else if (name == "CONTENT_LENGTH") {
      this.headerNames.push("content-length");
      this.headerValues.push(value);
    } else if (name.startsWith("X_VERGE_PARAM_")) {
      this.paramNames.push(name.substring(14).toLowerCase());
      this.paramValues.push(value);
    }
  }

  /** A CGI variable, or null. */
  env(name: string): string | null {
    for (let i = 0; i < this.envNames.length; ++i) {
      if (this.envNames[i] == name) return this.envValues[i];
    }
    return null;
  }

  private envOr(name: string, fallback: string): string {
    let v = this.env(name);
    return v == null ? fallback : v;
  }

  /** REQUEST_METHOD ("GET" if missing). */
  get method(): string { return this.envOr("REQUEST_METHOD", "GET"); }
  /** SCRIPT_NAME: what the route's fixed segments matched (raw). */
  get scriptName(): string { return this.envOr("SCRIPT_NAME", ""); }
  /** PATH_INFO: the rest of the path below a "/..." route (raw, not percent-decoded). */
  get pathInfo(): string { return this.envOr("PATH_INFO", ""); }
  /** SCRIPT_NAME + PATH_INFO. */
  get path(): string { return this.scriptName + this.pathInfo; }
  /** QUERY_STRING, raw, without "?". */
  get queryString(): string { return this.envOr("QUERY_STRING", ""); }
  /** X_MATCHED_ROUTE, e.g. "/users/:id". */
  get matchedRoute(): string { return this.envOr("X_MATCHED_ROUTE", ""); }
  /** X_VERGE_REQUEST_ID. */
  get requestId(): string { return this.envOr("X_VERGE_REQUEST_ID", ""); }

  /** A header by case-insensitive name ("-" and "_" are the same), or null. */
  header(name: string): string | null {
    let n = headerName(name);
    for (let i = 0; i < this.headerNames.length; ++i) {
      if (this.headerNames[i] == n) return this.headerValues[i];
    }
    return null;
  }

  /** A route parameter (":name" in the route), case-insensitive, or null. */
  param(name: string): string | null {
    let n = name.toLowerCase();
    for (let i = 0; i < this.paramNames.length; ++i) {
      if (this.paramNames[i] == n) return this.paramValues[i];
    }
    return null;
  }

  /** The first value of query parameter `name`, percent-decoded ("+" is a space), or null. */
  query(name: string): string | null {
    let all = this.queryAll(name);
    return all.length > 0 ? all[0] : null;
  }

  /** Every value of query parameter `name`, percent-decoded. */
  queryAll(name: string): Array<string> {
    let out = new Array<string>();
    let parts = this.queryString.split("&");
    for (let i = 0; i < parts.length; ++i) {
      let part = parts[i];
      if (part.length == 0) continue;
      let eq = part.indexOf("=");
      let k = eq < 0 ? part : part.substring(0, eq);
      if (percentDecode(k, true) != name) continue;
      out.push(eq < 0 ? "" : percentDecode(part.substring(eq + 1), true));
    }
    return out;
  }

  /** The body as UTF-8 text (invalid sequences replaced). */
  text(): string {
    return String.UTF8.decodeUnsafe(this.body.dataStart, <usize>this.body.length);
  }
}

/** "X_FOO_BAR" or "X-Foo-Bar" -> "x-foo-bar". */
function headerName(name: string): string {
  return name.toLowerCase().replaceAll("_", "-");
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Percent-decodes `s` ("%41" -> "A"), over its UTF-8 bytes; malformed escapes stay as they are.
 * With `plusIsSpace` (query strings), "+" becomes a space.
 */
export function percentDecode(s: string, plusIsSpace: bool = false): string {
  if (s.indexOf("%") < 0 && (!plusIsSpace || s.indexOf("+") < 0)) return s;
  let src = Uint8Array.wrap(String.UTF8.encode(s));
  let out = new Uint8Array(src.length);
  let n = 0;
  for (let i = 0; i < src.length; ++i) {
    let b = <i32>src[i];
    if (b == 0x25 /* % */ && i + 2 < src.length) {
      let h = hexValue(<i32>src[i + 1]);
      let l = hexValue(<i32>src[i + 2]);
      if (h >= 0 && l >= 0) {
        out[n++] = <u8>((h << 4) | l);
        i += 2;
        continue;
      }
    }
    out[n++] = <u8>(plusIsSpace && b == 0x2B ? 0x20 : b);
  }
  return String.UTF8.decodeUnsafe(out.dataStart, <usize>n);
}

/** Parses a decimal CONTENT_LENGTH; -1 if malformed (then stdin is read to its end). */
function parseLength(s: string): i32 {
  if (s.length == 0 || s.length > 10) return -1;
  let n: i64 = 0;
  for (let i = 0; i < s.length; ++i) {
    let d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n > 0x7FFFFFFF ? -1 : <i32>n;
}

/** One fd_read(0) into buf[offset..]; bytes read, 0 at the end or on an error. */
function readSome(buf: Uint8Array, offset: i32): i32 {
  store<u32>(scratch, <u32>(buf.dataStart + <usize>offset));
  store<u32>(scratch, <u32>(buf.length - offset), 4);
  if (fd_read(0, scratch, 1, scratch + 8) != 0) return 0;
  return <i32>load<u32>(scratch, 8);
}

/** Reads `length` bytes of stdin (fewer if it ends first), or all of it when length < 0. */
function readStdin(length: i32): Uint8Array {
  let buf = new Uint8Array(length >= 0 ? length : 4096);
  let got = 0;
  while (length < 0 || got < length) {
    if (got == buf.length) {
      if (length >= 0) break;
      let bigger = new Uint8Array(buf.length << 1);
      memory.copy(bigger.dataStart, buf.dataStart, <usize>got);
      buf = bigger;
    }
    let n = readSome(buf, got);
    if (n == 0) break;
    got += n;
  }
  return got == buf.length ? buf : buf.subarray(0, got);
}

/** Writes all of `len` bytes at `ptr` to `fd`. */
function writeAll(fd: u32, ptr: usize, len: usize): void {
  while (len > 0) {
    store<u32>(scratch, <u32>ptr);
    store<u32>(scratch, <u32>len, 4);
    if (fd_write(fd, scratch, 1, scratch + 8) != 0) return;
    let written = <usize>load<u32>(scratch, 8);
    if (written == 0) return;
    ptr += written;
    len -= written;
  }
}

/** A CGI response under construction; `send()` writes it to stdout. */
export class Response {
  readonly headerNames: Array<string> = new Array<string>();
  readonly headerValues: Array<string> = new Array<string>();
  bodyBytes: Uint8Array = new Uint8Array(0);

  constructor(public status: i32 = 200) {}

  /** A response with content-type application/json and `json` (already serialized). */
  static json(status: i32, json: string): Response {
    return new Response(status).header("content-type", "application/json").bodyText(json);
  }

  /** A response with content-type text/plain; charset=utf-8. */
  static text(status: i32, text: string): Response {
    return new Response(status).header("content-type", "text/plain; charset=utf-8").bodyText(text);
  }

  /** Adds a header; CR and LF are replaced by spaces so a value cannot inject header lines. */
  header(name: string, value: string): Response {
    this.headerNames.push(noNewlines(name));
    this.headerValues.push(noNewlines(value));
    return this;
  }

  /** Sets the body bytes. */
  body(bytes: Uint8Array): Response {
    this.bodyBytes = bytes;
    return this;
  }

  /** Sets the body to UTF-8 text. */
  bodyText(text: string): Response {
    this.bodyBytes = Uint8Array.wrap(String.UTF8.encode(text));
    return this;
  }

  /** The first header named `name` (case-insensitive), or null. */
  getHeader(name: string): string | null {
    let n = name.toLowerCase();
    for (let i = 0; i < this.headerNames.length; ++i) {
      if (this.headerNames[i].toLowerCase() == n) return this.headerValues[i];
    }
    return null;
  }

  /** The CGI head: "status: NNN Reason", the headers, a blank line. */
  head(): string {
    let reason = reasonPhrase(this.status);
    let s = "status: " + this.status.toString() + (reason.length > 0 ? " " + reason : "") + "\n";
    for (let i = 0; i < this.headerNames.length; ++i) {
      s += this.headerNames[i] + ": " + this.headerValues[i] + "\n";
    }
    return s + "\n";
  }

  /** Writes the response to stdout for the host. */
  send(): void {
    let head = String.UTF8.encode(this.head());
    writeAll(1, changetype<usize>(head), <usize>head.byteLength);
    writeAll(1, this.bodyBytes.dataStart, <usize>this.bodyBytes.length);
  }
}

function noNewlines(s: string): string {
  if (s.indexOf("\r") < 0 && s.indexOf("\n") < 0) return s;
  return s.replaceAll("\r", " ").replaceAll("\n", " ");
}

/** The standard reason phrase for `status` ("" if none is known). */
export function reasonPhrase(status: i32): string {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "";
  }
}
