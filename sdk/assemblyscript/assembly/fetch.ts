// Outbound HTTP (http_* in docs/abi.md). Hosts must be granted in the component's
// allowed_outbound_hosts. An HTTP error status is a response, not an error; errors are
// AccessDenied (host not granted or a blocked address), InvalidArgument, LimitExceeded,
// Timeout and Network.

import { Result, err, ok } from "./errors";
import * as sys from "./sys";

/** A response to an outbound request, fully read; the host's handle is already closed. */
export class FetchResponse {
  /** Header names are lower-case, in the host's order; repeated headers repeat. */
  readonly headerNames: Array<string> = new Array<string>();
  readonly headerValues: Array<string> = new Array<string>();

  constructor(public readonly status: i32, public readonly body: Uint8Array) {}

  /** The first header named `name` (case-insensitive), or null. */
  header(name: string): string | null {
    let n = name.toLowerCase();
    for (let i = 0; i < this.headerNames.length; ++i) {
      if (this.headerNames[i] == n) return this.headerValues[i];
    }
    return null;
  }

  /** Every header named `name`. */
  headerAll(name: string): Array<string> {
    let n = name.toLowerCase();
    let out = new Array<string>();
    for (let i = 0; i < this.headerNames.length; ++i) {
      if (this.headerNames[i] == n) out.push(this.headerValues[i]);
    }
    return out;
  }

  /** The body as UTF-8 text (invalid sequences replaced). */
  text(): string {
    return sys.decode(this.body);
  }
}

/** An outbound request under construction. */
export class FetchRequest {
  private headerLines: string = "";
  private bodyBytes: Uint8Array = new Uint8Array(0);

  /** `method` (e.g. "GET") to the absolute `url` (http:// or https://). */
  constructor(public readonly method: string, public readonly url: string) {}

  static get(url: string): FetchRequest { return new FetchRequest("GET", url); }
  static post(url: string): FetchRequest { return new FetchRequest("POST", url); }

  /** Adds a header (CR or LF in it makes send() fail with InvalidArgument). */
  header(name: string, value: string): FetchRequest {
    if (this.headerLines.length > 0) this.headerLines += "\n";
    this.headerLines += name + ": " + value;
    return this;
  }

  /** Sets the body bytes. */
  body(bytes: Uint8Array): FetchRequest {
    this.bodyBytes = bytes;
    return this;
  }

  /** Sets the body to UTF-8 text. */
  bodyText(text: string): FetchRequest {
    this.bodyBytes = Uint8Array.wrap(String.UTF8.encode(text));
    return this;
  }

  /** Sends the request and reads the whole response. */
  send(): Result<FetchResponse> {
    let m = sys.utf8(this.method);
    let u = sys.utf8(this.url);
    let h = sys.utf8(this.headerLines);
    let b = this.bodyBytes;
    let handle = sys.http_send(sys.ptr(m), m.byteLength, sys.ptr(u), u.byteLength, sys.ptr(h), h.byteLength, sys.bytesPtr(b), b.length);
    if (handle < 0) return err<FetchResponse>(handle);
    let result = readResponse(handle);
    sys.http_close(handle);
    return result;
  }
}

function readResponse(handle: i32): Result<FetchResponse> {
  let status = sys.http_response_status(handle);
  if (status < 0) return err<FetchResponse>(status);

  let head = new Uint8Array(1024);
  while (true) {
    let n = sys.http_response_headers(handle, sys.bytesPtr(head), head.length);
    if (n < 0) return err<FetchResponse>(n);
    if (n <= head.length) { head = head.subarray(0, n); break; }
    head = new Uint8Array(n);
  }

  let body = new Uint8Array(16384);
  while (true) {
    let n = sys.http_response_body(handle, sys.bytesPtr(body), body.length);
    if (n < 0) return err<FetchResponse>(n);
    if (n <= body.length) { body = body.subarray(0, n); break; }
    body = new Uint8Array(n);
  }

  let res = new FetchResponse(status, body);
  let lines = sys.decode(head).split("\n");
  for (let i = 0; i < lines.length; ++i) {
    let line = lines[i];
    if (line.endsWith("\r")) line = line.substring(0, line.length - 1);
    let colon = line.indexOf(":");
    if (colon <= 0) continue;
    res.headerNames.push(line.substring(0, colon).trim().toLowerCase());
    res.headerValues.push(line.substring(colon + 1).trim());
  }
  return ok<FetchResponse>(res);
}
