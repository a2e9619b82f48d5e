/**
 * Outbound HTTP for guests (`http_send` in docs/abi.md), run on the main thread.
 *
 * Every hop (the first request and each redirect) goes through the same steps:
 *   1. the URL's scheme, host and port must match `allowed_outbound_hosts` (policy.ts);
 *   2. the host is resolved once (an IP literal is taken as is) and every address is classified
 *      (address.ts); unless the host was allowed *explicitly*, one non-public address refuses it;
 *   3. the connection goes to the addresses that were checked and to nothing else: the undici
 *      Client for the hop is built with a `connect.lookup` that answers with those addresses, so
 *      Node's socket never asks DNS again (no DNS rebinding between check and connect). TLS still
 *      sends SNI and verifies the certificate against the host name.
 * Redirects are followed here (undici follows none), at most `maxRedirects`; a relative Location
 * resolves against the URL of the hop that answered it, never against anything the inbound request
 * carried.
 *
 * The guest may not set hop-by-hop or framing headers: a request with one is refused with
 * INVALID_ARGUMENT (not silently dropped), see FORBIDDEN_REQUEST_HEADERS.
 */
import { promises as dns, type LookupAddress, type LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Client, Pool, buildConnector } from 'undici';
import { classifyAddress, ipLiteral, type AddressClass } from './address.js';
import { OutboundError, type OutboundErrorCode } from './errors.js';
import { DEFAULT_OUTBOUND_LIMITS, type OutboundLimits, type RequestBudget } from './limits.js';
import type { OutboundPolicy } from './policy.js';

export { createRequestBudget, type OutboundLimits, type RequestBudget } from './limits.js';

export interface OutboundRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

export interface OutboundResponse {
  status: number;
  /** Names lower-case, in the order received; a repeated header is repeated. */
  headers: Array<[string, string]>;
  body: Uint8Array;
}

/** `dns.promises.lookup` fits. */
export type LookupFn = (hostname: string, options: { all: true }) => Promise<ReadonlyArray<{ address: string; family: number }>>;

/** What a socket is about to connect to (see OutboundContext.onConnect). */
export interface ConnectTarget {
  readonly protocol: 'http:' | 'https:';
  /** The host of the URL (what TLS verifies and sends as SNI). */
  readonly hostname: string;
  readonly port: number;
  /** The checked addresses handed to the socket. */
  readonly addresses: readonly string[];
}

export interface OutboundContext {
  readonly policy: OutboundPolicy;
  readonly limits?: OutboundLimits;
  /** Aborts the call (the inbound request ended). */
  readonly signal?: AbortSignal;
  /** Resolves host names; `dns.promises.lookup` when not given. Called once per hop. */
  readonly lookup?: LookupFn;
  /** Counts this call against the inbound request's budget (createRequestBudget). */
  readonly budget?: RequestBudget;
  /** PEM certificates trusted for https besides Node's bundled roots (a private CA). */
  readonly ca?: string | readonly string[];
  /**
   * Called as a socket is handed its addresses, just before it connects; throwing refuses the
   * connection (NETWORK). For audit logs and tests.
   */
  readonly onConnect?: (target: ConnectTarget) => void;
}

/**
 * Headers the guest may not set: Verge frames the message itself (host, content-length,
 * transfer-encoding, connection and its friends), and the rest would change how the connection
 * behaves (upgrade, expect, proxy-*). Refused with INVALID_ARGUMENT rather than dropped, so a guest
 * learns at once that its header did not go out.
 */
export const FORBIDDEN_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'expect',
  'http2-settings',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** C0 controls (tab included: the URL parser drops tabs and newlines silently) and DEL. */
const URL_CONTROL = /[\x00-\x1f\x7f]/;
/** Controls a header value may not carry; tab is allowed. */
const VALUE_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH']);
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Request headers that describe a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
/** Credentials not sent on to another origin by a redirect. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie'];

const defaultLookup: LookupFn = (hostname, options) => dns.lookup(hostname, options);

/**
 * Sends one outbound request for a guest and buffers the response. Throws OutboundError; an HTTP
 * error status is a response, not an error.
 */
export async function sendOutbound(req: OutboundRequest, ctx: OutboundContext): Promise<OutboundResponse> {
  ctx.budget?.take();
  const limits = ctx.limits ?? DEFAULT_OUTBOUND_LIMITS;
  const validated = validateRequest(req, limits);
  if (ctx.signal?.aborted) throw cancelled(validated.url);

  const deadline = new AbortController();
  let cause: 'timeout' | 'cancelled' | undefined;
  const timer = setTimeout(() => {
    cause ??= 'timeout';
    deadline.abort();
  }, limits.timeoutMs);
  const onCancel = (): void => {
    cause ??= 'cancelled';
    deadline.abort();
  };
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  const started = performance.now();
  let current = validated.url;
  try {
    return await follow(validated, ctx, limits, deadline.signal, started, (url) => (current = url));
  } catch (err) {
    if (cause === 'timeout') {
      throw new OutboundError('TIMEOUT', `${show(current)} did not answer within ${limits.timeoutMs} ms (the outbound timeout)`, { cause: err });
    }
    if (cause === 'cancelled') throw cancelled(current, err);
    if (err instanceof OutboundError) throw err;
    throw failure(current, err);
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onCancel);
  }
}

interface ValidRequest {
  method: string;
  url: URL;
  /** Header values are binary strings (one char per byte) of the guest's UTF-8. */
  headers: Array<[string, string]>;
  body: Uint8Array | undefined;
}

function validateRequest(req: OutboundRequest, limits: OutboundLimits): ValidRequest {
  const invalid = (message: string): OutboundError => new OutboundError('INVALID_ARGUMENT', message);
  if (typeof req.method !== 'string' || !TOKEN.test(req.method)) {
    throw invalid(`method ${quote(req.method)} is not an HTTP method (a token, no spaces or control characters)`);
  }
  let method = req.method;
  if (NORMALISED_METHODS.has(method.toUpperCase())) method = method.toUpperCase();
  if (REFUSED_METHODS.has(method.toUpperCase())) throw invalid(`method ${method} is not allowed for outbound requests`);

  if (typeof req.url !== 'string') throw invalid('the URL must be a string');
  if (URL_CONTROL.test(req.url)) throw invalid(`URL ${quote(req.url)} contains a control character (CR, LF, NUL, tab, ...)`);
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw invalid(`URL ${quote(req.url)} is not an absolute http:// or https:// URL (relative URLs are not resolved)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`URL ${quote(req.url)} is not an absolute http:// or https:// URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(`URL ${show(url)} carries user info; send credentials in an authorization header`);
  }
  url.hash = '';

  const headers: Array<[string, string]> = [];
  for (const pair of req.headers) {
    const [name, value] = pair;
    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw invalid(`header name ${quote(name)} is not an HTTP token (no spaces, colons or control characters)`);
    }
    const lower = name.toLowerCase();
    if (typeof value !== 'string' || VALUE_CONTROL.test(value)) {
      throw invalid(`header ${lower} has a control character (CR, LF, NUL, ...) in its value`);
    }
    if (FORBIDDEN_REQUEST_HEADERS.has(lower) || lower.startsWith('proxy-')) {
      throw invalid(`header ${lower} may not be set by the guest (Verge sets host, content-length and the connection headers itself)`);
    }
    headers.push([lower, Buffer.from(value.replace(/^[ \t]+|[ \t]+$/g, ''), 'utf8').toString('latin1')]);
  }

  if (req.body.byteLength > limits.maxRequestBodyBytes) {
    throw new OutboundError(
      'LIMIT_EXCEEDED',
      `request body to ${show(url)} is ${req.body.byteLength} bytes, over the limit of ${bytes(limits.maxRequestBodyBytes)} (maxRequestBodyBytes)`,
    );
  }
  return { method, url, headers, body: req.body.byteLength > 0 ? Buffer.from(req.body) : undefined };
}

async function follow(
  first: ValidRequest,
  ctx: OutboundContext,
  limits: OutboundLimits,
  signal: AbortSignal,
  started: number,
  setCurrent: (url: URL) => void,
): Promise<OutboundResponse> {
  let { method, url, headers, body } = first;
  let from: URL | undefined;
  for (let redirects = 0; ; redirects++) {
    setCurrent(url);
    const addresses = await checkHop(url, from, ctx, signal);
    const remaining = Math.max(1, limits.timeoutMs - (performance.now() - started));
    const pooled = pooledClient(url, addresses, ctx, limits);
    const client: Client | Pool = pooled ?? pinnedClient(url, addresses, ctx, remaining);
    try {
      const res = await client.request({
        method,
        path: url.pathname + url.search,
        headers: headers.flat(),
        body,
        signal,
      });
      const location = res.headers['location'];
      if (REDIRECT_STATUSES.has(res.statusCode) && typeof location === 'string' && location !== '') {
        discard(res.body);
        if (redirects >= limits.maxRedirects) {
          throw new OutboundError('NETWORK', `too many redirects (limit ${limits.maxRedirects}) starting at ${show(first.url)}`);
        }
        const next = redirectTarget(url, location);
        if ((res.statusCode === 303 && method !== 'HEAD') || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
          method = 'GET';
          body = undefined;
          headers = headers.filter(([name]) => !BODY_HEADERS.includes(name));
        }
        if (next.origin !== url.origin) headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.includes(name));
        from = url;
        url = next;
        continue;
      }
      return {
        status: res.statusCode,
        headers: responseHeaders(res.headers),
        body: await readCapped(res.body, bodyless(method, res.statusCode) ? undefined : res.headers['content-length'], url, limits.maxResponseBytes),
      };
    } finally {
      if (!pooled) client.destroy().catch(() => {});
    }
  }
}

/**
 * Connections are reused only between calls whose checks produced the same origin and the same
 * set of checked addresses: a pooled Client's connector can reach nothing else, so reuse keeps
 * the pinning (a host whose DNS answer changes gets a new Client). Contexts with an `onConnect`
 * hook or extra CAs (tests, audits) always get a fresh Client.
 */
const POOL_MAX_ORIGINS = 256;
const POOL_CONNECTIONS_PER_ORIGIN = 32;
const pool = new Map<string, Pool>();

function pooledClient(url: URL, addresses: LookupAddress[], ctx: OutboundContext, limits: OutboundLimits): Pool | undefined {
  if (ctx.onConnect || ctx.ca !== undefined) return undefined;
  const key = `${url.origin}|${addresses.map((a) => a.address).sort().join(",")}`;
  let client = pool.get(key);
  if (client && (client.closed || client.destroyed)) {
    pool.delete(key);
    client = undefined;
  }
  if (client) {
    // Most recently used last, so the first entry is the one to evict.
    pool.delete(key);
    pool.set(key, client);
    return client;
  }
  client = new Pool(url.origin, { ...pinnedOptions(url, addresses, ctx, limits.timeoutMs), connections: POOL_CONNECTIONS_PER_ORIGIN });
  pool.set(key, client);
  if (pool.size > POOL_MAX_ORIGINS) {
    const [oldestKey, oldest] = pool.entries().next().value as [string, Pool];
    pool.delete(oldestKey);
    oldest.close().catch(() => {});
  }
  return client;
}

/** Closes every pooled connection (the node is stopping). */
export async function closeOutboundPool(): Promise<void> {
  const clients = [...pool.values()];
  pool.clear();
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}

/** Policy, DNS and address checks for one hop; the addresses the connection may use. */
async function checkHop(url: URL, from: URL | undefined, ctx: OutboundContext, signal: AbortSignal): Promise<LookupAddress[]> {
  const what = from ? `redirect from ${show(from)} to ${show(url)}` : show(url);
  const match = ctx.policy.matches(url);
  if (!match.allowed) {
    throw new OutboundError(
      'ACCESS_DENIED',
      `${what}: ${url.protocol}//${url.host} is not allowed by allowed_outbound_hosts (scheme, host and port must match an entry)`,
    );
  }
  const literal = ipLiteral(url.hostname);
  let addresses: LookupAddress[];
  if (literal !== undefined) {
    addresses = [{ address: literal, family: isIP(literal) }];
  } else {
    addresses = await resolve(url.hostname, ctx.lookup ?? defaultLookup, signal);
  }
  for (const { address } of addresses) {
    let cls: AddressClass;
    try {
      cls = classifyAddress(address);
    } catch {
      throw new OutboundError('NETWORK', `${what}: DNS lookup of ${url.hostname} answered ${quote(address)}, not an IP address`);
    }
    if (cls !== 'public' && !match.explicit) {
      const resolved = literal !== undefined ? `${url.hostname} is` : `${url.hostname} resolves to ${address},`;
      throw new OutboundError(
        'ACCESS_DENIED',
        `${what}: ${resolved} ${article(cls)} ${cls} address; only a host named explicitly in allowed_outbound_hosts (not a wildcard) may reach one`,
      );
    }
  }
  return addresses;
}

async function resolve(hostname: string, lookup: LookupFn, signal: AbortSignal): Promise<LookupAddress[]> {
  const name = hostname.endsWith('.') ? hostname.slice(0, -1) : hostname;
  let answer: unknown;
  try {
    answer = await raceAbort(lookup(name, { all: true }), signal);
  } catch (err) {
    if (signal.aborted) throw err;
    throw new OutboundError('NETWORK', `DNS lookup of ${hostname} failed (${errorCode(err) ?? errorMessage(err)})`, { cause: err });
  }
  const list = (Array.isArray(answer) ? answer : [answer]) as unknown[];
  const addresses: LookupAddress[] = [];
  for (const a of list) {
    const address = typeof a === 'string' ? a : (a as { address?: unknown } | null)?.address;
    if (typeof address !== 'string' || isIP(address) === 0) {
      throw new OutboundError('NETWORK', `DNS lookup of ${hostname} answered ${quote(address)}, not an IP address`);
    }
    addresses.push({ address, family: isIP(address) });
  }
  if (addresses.length === 0) throw new OutboundError('NETWORK', `DNS lookup of ${hostname} found no addresses`);
  return addresses;
}

/**
 * A Client for one hop whose sockets can only reach `addresses`: the connector's lookup answers
 * with them (and nothing else) when Node's socket resolves the host name. With an IP-literal
 * host, Node does not look anything up: the literal is the checked address.
 */
function pinnedClient(url: URL, addresses: LookupAddress[], ctx: OutboundContext, timeoutMs: number): Client {
  return new Client(url.origin, pinnedOptions(url, addresses, ctx, timeoutMs));
}

function pinnedOptions(url: URL, addresses: LookupAddress[], ctx: OutboundContext, timeoutMs: number): Client.Options {
  const protocol = url.protocol as 'http:' | 'https:';
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port);
  const hostname = ipLiteral(url.hostname) ?? url.hostname;
  const target: ConnectTarget = Object.freeze({ protocol, hostname, port, addresses: Object.freeze(addresses.map((a) => a.address)) });

  const lookup: LookupFunction = (name: string, options: LookupOptions, callback) => {
    process.nextTick(() => {
      if (name.toLowerCase() !== hostname.toLowerCase()) {
        callback(Object.assign(new Error(`refusing to resolve ${name}: the connection is pinned to ${hostname}`), { code: 'EPINNED' }), '', 0);
        return;
      }
      try {
        ctx.onConnect?.(target);
      } catch (err) {
        callback(err as NodeJS.ErrnoException, '', 0);
        return;
      }
      const family = options.family === 4 || options.family === 6 ? options.family : 0;
      const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
      if (options.all) callback(null, usable);
      else if (usable[0]) callback(null, usable[0].address, usable[0].family);
      else callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
    });
  };

  const extraCa = ctx.ca === undefined ? undefined : typeof ctx.ca === 'string' ? [ctx.ca] : [...ctx.ca];
  const connector = buildConnector({
    timeout: timeoutMs,
    lookup,
    ...(extraCa ? { ca: [...rootCertificates, ...extraCa] } : {}),
  } as buildConnector.BuildOptions);
  const literal = ipLiteral(url.hostname) !== undefined;

  return {
    connect: (opts, callback) => {
      if (literal && ctx.onConnect) {
        try {
          ctx.onConnect(target);
        } catch (err) {
          callback(err as Error, null);
          return;
        }
      }
      connector(opts, callback);
    },
    // The call's own deadline (an AbortSignal) bounds the whole exchange.
    headersTimeout: 0,
    bodyTimeout: 0,
    pipelining: 1,
  };
}

function redirectTarget(current: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new OutboundError('NETWORK', `${show(current)} redirected to ${quote(location)}, which is not a URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new OutboundError('NETWORK', `${show(current)} redirected to ${next.protocol} URL, not http or https`);
  }
  if (next.username !== '' || next.password !== '') {
    throw new OutboundError('NETWORK', `${show(current)} redirected to a URL with user info`);
  }
  next.hash = '';
  return next;
}

type Body = AsyncIterable<Buffer> & { destroy(): unknown; on(event: 'error', listener: (err: Error) => void): unknown };

/** Drops a response body we will not read (undici reports an unread, destroyed body as an error). */
function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

async function readCapped(body: Body, contentLength: unknown, url: URL, max: number): Promise<Uint8Array> {
  const over = (): OutboundError =>
    new OutboundError('LIMIT_EXCEEDED', `response from ${show(url)} is larger than the limit of ${bytes(max)} (maxResponseBytes)`);
  if (typeof contentLength === 'string' && /^[0-9]+$/.test(contentLength) && Number(contentLength) > max) {
    discard(body);
    throw over();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      discard(body);
      throw over();
    }
    chunks.push(chunk);
  }
  // A fresh ArrayBuffer of exactly this size (Buffer.concat may hand out a slice of Node's shared
  // pool, which a structured clone or a transfer to the worker would copy or detach whole).
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A response that has no body whatever its content-length says. */
function bodyless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

/** Flattens undici's header object; values back from bytes (latin1) to UTF-8 text. */
function responseHeaders(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name.toLowerCase(), Buffer.from(v, 'latin1').toString('utf8')]);
  }
  return out;
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function failure(url: URL, err: unknown): OutboundError {
  const code = errorCode(err);
  const kind: OutboundErrorCode = code !== undefined && TIMEOUT_CODES.has(code) ? 'TIMEOUT' : code === 'UND_ERR_INVALID_ARG' ? 'INVALID_ARGUMENT' : 'NETWORK';
  const reason = describeFailure(code, err);
  return new OutboundError(kind, `request to ${show(url)} failed: ${reason}`, { cause: err });
}

function describeFailure(code: string | undefined, err: unknown): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)';
    case 'UND_ERR_SOCKET':
      return `connection closed (${errorMessage(err)})`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `no route to the host (${code})`;
    default:
      return code ? `${errorMessage(err)} (${code})` : errorMessage(err);
  }
}

function errorCode(err: unknown): string | undefined {
  if (err instanceof AggregateError && err.errors.length > 0) return errorCode(err.errors[0]);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function errorMessage(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return errorMessage(err.errors[0]);
  return err instanceof Error ? err.message : String(err);
}

function cancelled(url: URL, cause?: unknown): OutboundError {
  return new OutboundError('TIMEOUT', `request to ${show(url)} was cancelled: the inbound request ended`, { cause });
}

function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** A URL for messages and logs: no query (it may carry keys), no fragment. */
function show(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s);
}

function bytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

function article(cls: AddressClass): string {
  return cls === 'unspecified' ? 'an' : 'a';
}
