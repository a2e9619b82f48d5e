/**
 * WAGI (CGI/1.1 over WASI): the request becomes environment variables and stdin; the guest's
 * stdout is a CGI response. docs/wagi.md documents the variables.
 */
import { VergeError } from '../../errors.js';
import type { GuestRequest, GuestResponse } from '../../dispatch/protocol.js';

/** Headers CGI passes as their own variables; and guest headers Verge sets itself or must not forward. */
const NOT_FORWARDED_AS_HTTP = new Set(['content-type', 'content-length']);
/** Headers the ingress owns (framing, the request id); a guest's copies are dropped. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['x-request-id', 'connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'content-length']);
const MAX_HEADER_BLOCK = 64 * 1024;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Field values: visible ASCII, obs-text, space and tab; no CR, LF or other controls.
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** The CGI environment as name/value pairs (see writeCgiEnvironment). */
export function cgiEnvironment(req: GuestRequest): Array<[string, string]> {
  const env: Array<[string, string]> = [];
  writeCgiEnvironment(req, (name, value) => env.push([name, value]));
  return env;
}

/** Emits each CGI variable for a request; the worker feeds them straight into the guest's environ. */
export function writeCgiEnvironment(req: GuestRequest, set: (name: string, value: string) => void): void {
  const queryAt = req.url.indexOf('?');
  set('GATEWAY_INTERFACE', 'CGI/1.1');
  set('SERVER_SOFTWARE', 'Verge');
  set('SERVER_PROTOCOL', `HTTP/${req.httpVersion}`);
  set('SERVER_NAME', req.serverName);
  set('SERVER_PORT', req.serverPort);
  set('REQUEST_METHOD', req.method);
  set('REQUEST_URI', req.url);
  set('SCRIPT_NAME', req.scriptName);
  set('PATH_INFO', req.pathInfo);
  set('QUERY_STRING', queryAt === -1 ? '' : req.url.slice(queryAt + 1));
  set('REMOTE_ADDR', req.remoteAddr);
  set('X_MATCHED_ROUTE', req.route);
  set('X_FULL_URL', `${req.scheme}://${req.serverName}:${req.serverPort}${req.url}`);
  set('X_VERGE_REQUEST_ID', req.id);
  set('CONTENT_LENGTH', String(req.body.length));
  let contentType = '';
  let http: Map<string, string> | undefined;
  const h = req.rawHeaders;
  for (let i = 0; i + 1 < h.length; i += 2) {
    const { name, key } = headerName(h[i]!);
    const value = h[i + 1]!;
    if (name === 'content-type') contentType = value;
    // HTTP_PROXY from a client header would be read as a proxy setting by many HTTP libraries (httpoxy).
    if (NOT_FORWARDED_AS_HTTP.has(name) || name === 'proxy') continue;
    http ??= new Map();
    const prev = http.get(key);
    http.set(key, prev === undefined ? value : `${prev}${name === 'cookie' ? '; ' : ', '}${value}`);
  }
  set('CONTENT_TYPE', contentType);
  if (http) for (const [k, v] of http) set(k, v);
  for (const [name, value] of req.params) set(`X_VERGE_PARAM_${paramVariable(name)}`, value);
}

/**
 * Header names as clients spell them, with their lower case and their CGI variable: requests
 * repeat a few names, and case-mapping each one again was half of a browser request's
 * environment once the copy was cheap (bench/lib/cgi-environment.ts). Emptied when full, so names
 * a client makes up cannot grow it without bound.
 */
const HEADER_NAMES = new Map<string, { name: string; key: string }>();
const HEADER_NAMES_KEPT = 256;

function headerName(raw: string): { name: string; key: string } {
  let known = HEADER_NAMES.get(raw);
  if (known === undefined) {
    const name = raw.toLowerCase();
    known = { name, key: 'HTTP_' + name.toUpperCase().replace(/-/g, '_') };
    if (HEADER_NAMES.size >= HEADER_NAMES_KEPT) HEADER_NAMES.clear();
    HEADER_NAMES.set(raw, known);
  }
  return known;
}

/**
 * argv as WAGI builds it: the request path, then each `&`-separated item of the query, raw (not
 * percent-decoded), so `/test?abc=def` is `["/test", "abc=def"]`.
 */
export function writeWagiArgv(req: GuestRequest, add: (arg: string) => void): void {
  add(req.scriptName + req.pathInfo);
  const queryAt = req.url.indexOf('?');
  if (queryAt === -1 || queryAt === req.url.length - 1) return;
  let start = queryAt + 1;
  for (;;) {
    const amp = req.url.indexOf('&', start);
    add(req.url.slice(start, amp === -1 ? undefined : amp));
    if (amp === -1) return;
    start = amp + 1;
  }
}

export function paramVariable(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_]/g, '_');
}

function badResponse(message: string): VergeError {
  return new VergeError('GUEST_BAD_RESPONSE', message);
}

/**
 * Parses a CGI response. `maxBodyBytes` is the component's response cap; a larger body is the
 * guest's error.
 */
export function parseCgiResponse(out: Uint8Array, maxBodyBytes: number): GuestResponse {
  let start = 0;
  let bodyStart = -1;
  const lines: string[] = [];
  const limit = Math.min(out.length, MAX_HEADER_BLOCK);
  while (start < limit) {
    let nl = out.indexOf(0x0a, start);
    if (nl === -1 || nl >= limit) break;
    const end = nl > start && out[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === start) {
      bodyStart = nl + 1;
      break;
    }
    lines.push(Buffer.from(out.buffer, out.byteOffset + start, end - start).toString('latin1'));
    start = nl + 1;
  }
  if (bodyStart === -1) {
    if (out.length === 0) throw badResponse('the guest wrote nothing to stdout; a CGI response needs headers, a blank line and a body');
    throw badResponse(
      out.length >= MAX_HEADER_BLOCK
        ? `no blank line ends the CGI headers within the first ${MAX_HEADER_BLOCK} bytes of stdout`
        : 'no blank line ends the CGI headers on stdout',
    );
  }
  let status: number | undefined;
  let location = false;
  let contentType = false;
  const headers: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw badResponse(`CGI header line without a name and a colon: ${JSON.stringify(line.slice(0, 80))}`);
    const name = line.slice(0, colon);
    // Only optional whitespace (space, tab) around a value is trimmed; anything else is checked.
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!TOKEN.test(name)) throw badResponse(`CGI header name is not a valid HTTP token: ${JSON.stringify(name.slice(0, 80))}`);
    if (!FIELD_VALUE.test(value)) throw badResponse(`CGI header ${name} has a control character in its value`);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      const m = /^([1-5][0-9][0-9])(?:\s.*)?$/.exec(value);
      const code = m ? Number(m[1]) : NaN;
      if (!(code >= 200 && code <= 599)) throw badResponse(`CGI status must be a code from 200 to 599, got ${JSON.stringify(value.slice(0, 40))}`);
      status = code;
      continue;
    }
    if (lower === 'location') location = true;
    if (lower === 'content-type') contentType = true;
    if (HOP_BY_HOP.has(lower)) continue;
    headers.push(name, value);
  }
  if (status === undefined && !contentType && !location) {
    throw badResponse('the CGI headers name no content-type, location or status');
  }
  const bodyLength = out.length - bodyStart;
  if (bodyLength > maxBodyBytes) {
    throw new VergeError('RESPONSE_TOO_LARGE', `the guest wrote a ${bodyLength}-byte body; the component's max_response_bytes is ${maxBodyBytes}`);
  }
  return { status: status ?? (location ? 302 : 200), headers, body: out.subarray(bodyStart) };
}
