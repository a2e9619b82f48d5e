/**
 * The ingress: a request id on every response, routing, the bounded body read, dispatch to the
 * worker pool, and the access log, alike over HTTP/1.1 and HTTP/2. listeners.ts holds the
 * connections (plain or TLS) and their limits.
 */
import { randomUUID } from 'node:crypto';
import http, { type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import { ERROR_CATALOGUE, VergeError, isVergeError, type ErrorCode } from '../errors.js';
import type { ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { WorkerPool } from '../dispatch/pool.js';
import type { EncodedSpans, GuestRequest, RunMeasures, TraceContext } from '../dispatch/protocol.js';
import type { RequestTrace, ServerSpan, Tracing } from '../telemetry/tracing.js';
import { epochMs, formatTraceparent } from '../telemetry/trace/context.js';
import { readBody, type BodyOptions } from './body.js';
import { parseRequestTarget } from './request-path.js';
import type { RouteMatch } from './router.js';
import { INTERNAL_DOMAIN, hostOf, isInternalHost } from '../manifest/hosts.js';
import type { Chains } from '../dispatch/chain.js';
import { INGRESS_LIMITS } from './limits.js';
import { loadHttp2, plainListener, secureListener, type Exchange, type Listener } from './listeners.js';

/** A route found and the request bound to the app version serving it, until `release`. */
export interface BoundRoute extends RouteMatch<{ version: { key: string; shortId: string; app: { name: string } }; component: ComponentConfig; middleware: readonly ComponentConfig[] }> {
  /** Headers every response to the request carries (x-verge-version, a sticky cookie). */
  readonly headers: readonly string[];
  /** With the status and the time taken, for the version's window. */
  release(status?: number, ms?: number): void;
}

/** What a deployment's split may look at: request headers and the client's address. */
export interface BindFacts {
  headers: Readonly<Record<string, string | string[] | undefined>>;
  clientAddress: string;
  secure: boolean;
}

export interface IngressOptions {
  /** Host (name only, lower case) and path → the route, bound to its app version. */
  bind: (host: string | undefined, path: string, facts: BindFacts) => BoundRoute | undefined;
  pool: WorkerPool;
  /** Runs a route's middleware before its component (docs/composition.md); without it, the pool runs the component. */
  chains?: Pick<Chains, 'serve'> | undefined;
  logger: Logger;
  metrics: Metrics;
  /** Set while draining: new requests get 503 SHUTTING_DOWN. */
  draining: () => boolean;
  /** Serve TLS, HTTP/2 and HTTP/1.1 offered by ALPN, with this certificate and key; plain HTTP/1.1 without. */
  tls?: SecureContextOptions | undefined;
  /** Absent when tracing is off. */
  tracing?: Tracing | undefined;
  /** Told of every answered request, after its access-log line (the dashboard's recent requests and per-route stats). */
  onAnswered?: ((request: AnsweredRequest) => void) | undefined;
  /**
   * Development mode (`verge up --dev`, and --watch): a failing guest's panic message and
   * backtrace go in its 500 body too. Off in production, where they stay in the log: a guest's
   * internals are not for its clients.
   */
  dev?: boolean | undefined;
}

/** One answered request, as the ingress saw it. */
export interface AnsweredRequest {
  /** The x-request-id. */
  readonly id: string;
  /** When it arrived, in milliseconds since the epoch. */
  readonly at: number;
  readonly method: string;
  /** The path without its query, which may carry secrets. */
  readonly path: string;
  /** The route pattern that matched; '-' when none did. */
  readonly route: string;
  readonly app: string | undefined;
  readonly component: string | undefined;
  /** The version's short id (x-verge-version). */
  readonly version: string | undefined;
  readonly status: number;
  readonly durationMs: number;
  readonly error: ErrorCode | undefined;
}

const JSON_TYPE = 'application/json';

export function createIngress(opts: IngressOptions): Listener {
  const handlers = {
    request: (exchange: Exchange) => void handle(opts, exchange),
    clientError: (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(opts, err, socket),
    // Scanners and plain-HTTP clients fail handshakes all day: worth a debug line, not the access log.
    handshakeError: (err: NodeJS.ErrnoException, socket: Duplex) =>
      opts.logger.debug({ remote: (socket as Socket).remoteAddress, reason: err.code ?? err.message }, 'tls handshake failed'),
  };
  return opts.tls ? secureListener(opts.tls, handlers) : plainListener(handlers);
}

/** Errors node:http raises before a request exists: answer them in our JSON shape, then close. */
function onClientError(opts: IngressOptions, err: NodeJS.ErrnoException, socket: Duplex): void {
  const code: ErrorCode =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : 'BAD_REQUEST';
  const id = randomUUID();
  const message =
    code === 'REQUEST_TIMEOUT'
      ? `the request was not received within ${INGRESS_LIMITS.headersTimeoutMs} ms (headers) or ${INGRESS_LIMITS.requestTimeoutMs} ms (whole request)`
      : code === 'HEADERS_TOO_LARGE'
        ? `the request headers are larger than ${INGRESS_LIMITS.maxHeaderBytes} bytes`
        : `malformed HTTP request (${err.code ?? err.message})`;
  opts.metrics.observeRequest(undefined, ERROR_CATALOGUE[code].status, undefined);
  opts.logger.info({ request_id: id, route: '-', component: '-', status: ERROR_CATALOGUE[code].status, error: code, reason: message }, 'request rejected');
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify({ error: code, message, request_id: id });
  const status = ERROR_CATALOGUE[code].status;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: ${JSON_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${id}\r\nconnection: close\r\n\r\n${body}`,
  );
}

async function handle(opts: IngressOptions, ex: Exchange): Promise<void> {
  const req = ex.req;
  const started = process.hrtime.bigint();
  const arrived = Date.now();
  const id = randomUUID();
  let component: ComponentConfig | undefined;
  let route = '-';
  let match: BoundRoute | undefined;
  let answered: number | undefined;
  const trace = opts.tracing?.begin(req.headers.traceparent, req.headers.tracestate);
  let workerSpans: EncodedSpans | undefined;
  let measures: RunMeasures | undefined;
  let admittedAt = NaN;
  try {
    if (opts.draining()) throw new VergeError('SHUTTING_DOWN', 'the node is shutting down');
    const { path, query, authority: absolute } = parseRequestTarget(req.url ?? '/');
    // The guest sees the path that was routed, never the spelling that might climb out of its route.
    const url = path + query;
    // RFC 9112 §3.2.2: an absolute-form target's authority replaces any Host header; HTTP/2 sends
    // its Host as :authority (RFC 9113 §8.3.1). Router and guest see the one host either way.
    const authority = absolute ?? (ex.http2 ? ex.req.headers[':authority'] : undefined);
    let rawHeaders = authority === undefined && !ex.http2 ? req.rawHeaders : guestHeaders(req.rawHeaders, authority);
    if (trace) rawHeaders = withTraceHeaders(rawHeaders, trace.context);
    const host = authority ?? req.headers.host;
    // Those names mean "a chained call from inside this app" to the guests that get them: never from outside.
    const routedHost = hostOf(host);
    if (isInternalHost(routedHost)) throw new VergeError('RESERVED_HOST', `the host ${JSON.stringify(String(host).slice(0, 200))} is under ${INTERNAL_DOMAIN}, which only chained calls inside the node use`);
    try {
      match = opts.bind(routedHost, path, factsOf(req));
    } catch {
      throw new VergeError('BAD_REQUEST', `the path ${JSON.stringify(path.slice(0, 200))} has a malformed percent-encoding in a route parameter`);
    }
    if (!match) throw new VergeError('NOT_FOUND', `no route matches ${JSON.stringify(path.slice(0, 200))}`);
    component = match.target.component;
    route = match.pattern;
    // With middleware, the first one receives the request: its limits hold at the door.
    const entry = match.target.middleware[0] ?? component;
    const body = await readBody(req, entry.limits.maxRequestBytes, bodyOptions(ex));
    const local = req.socket.localAddress ?? '';
    const request: GuestRequest = {
      id,
      version: match.target.version.key,
      component: component.name,
      method: req.method ?? 'GET',
      url,
      scheme: opts.tls ? 'https' : 'http',
      httpVersion: req.httpVersion,
      rawHeaders,
      remoteAddr: req.socket.remoteAddress ?? '',
      serverName: hostName(host) ?? local,
      serverPort: String(req.socket.localPort ?? ''),
      route,
      scriptName: match.scriptName,
      pathInfo: match.pathInfo,
      params: match.params,
      body,
    };
    admittedAt = epochMs();
    if (trace) {
      trace.context.admittedAt = admittedAt;
      request.trace = trace.context;
    }
    const outcome = await (opts.chains ? opts.chains.serve(request, match.target) : opts.pool.run(request, entry.limits.timeoutMs));
    workerSpans = outcome.spans;
    measures = outcome.measures;
    if (!outcome.ok) throw outcome.error;
    const { status, headers, body: out } = outcome.response;
    // node:http would write a 1xx as the final answer and HTTP/2 refuses it: a guest's bad response either way.
    if (status < 200 || status > 599) throw new VergeError('GUEST_BAD_RESPONSE', `the guest answered status ${status}; a response status must be from 200 to 599`);
    // A HEAD handler may leave the body out; then the length of the GET body is unknown.
    if (out.length > 0 || request.method !== 'HEAD') headers.push('content-length', String(out.length));
    headers.push('x-request-id', id, ...match.headers);
    respond(ex, status, headers, out);
    answered = status;
    finish(opts, req, id, route, component, status, started, arrived, match, trace, workerSpans, admittedAt, measures);
  } catch (err) {
    const error = isVergeError(err) ? err : new VergeError('INTERNAL', 'internal error', { cause: err });
    sendError(ex, error, id, match?.headers, opts.dev === true);
    answered = error.status;
    finish(opts, req, id, route, component, error.status, started, arrived, match, trace, workerSpans, admittedAt, measures, error);
  } finally {
    match?.release(answered, Number(process.hrtime.bigint() - started) / 1e6);
  }
}

/**
 * The guest sees the trace context it runs in: `traceparent` names its execution span (a WAGI
 * guest reads it as HTTP_TRACEPARENT), so what it sends on by itself continues the trace.
 */
function withTraceHeaders(rawHeaders: string[], trace: TraceContext): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === 'traceparent' || lower === 'tracestate') continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  out.push('traceparent', formatTraceparent(trace.traceId, trace.spanId, trace.sampled));
  if (trace.tracestate !== undefined) out.push('tracestate', trace.tracestate);
  return out;
}

function factsOf(req: Exchange['req']): BindFacts {
  return { headers: req.headers, clientAddress: req.socket.remoteAddress ?? '', secure: 'encrypted' in req.socket && req.socket.encrypted === true };
}

/**
 * The headers as the guest sees them: HTTP/2's pseudo-headers (:method, :path, ...) are not
 * headers, and an authority from the target or :authority is the one host header.
 */
function guestHeaders(rawHeaders: string[], authority: string | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.startsWith(':') || (authority !== undefined && name.toLowerCase() === 'host')) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  if (authority !== undefined) out.push('host', authority);
  return out;
}

function bodyOptions(ex: Exchange): BodyOptions {
  // node:http bounds the time to receive a request itself; the HTTP/2 compatibility API does not.
  if (ex.http2) return { present: !ex.req.stream.endAfterHeaders, timeoutMs: INGRESS_LIMITS.requestTimeoutMs };
  return { present: ex.req.headers['content-length'] !== undefined || ex.req.headers['transfer-encoding'] !== undefined };
}

/** The HTTP/2 compatibility API takes headers as an object, a repeated name as an array (set-cookie). */
function respond(ex: Exchange, status: number, headers: string[] | OutgoingHttpHeaders, body: Uint8Array): void {
  if (!ex.http2) {
    ex.res.writeHead(status, headers).end(body);
    return;
  }
  const fields: OutgoingHttpHeaders = {};
  const entries = Array.isArray(headers) ? pairs(headers) : Object.entries(headers);
  for (const [rawName, value] of entries) {
    const name = rawName.toLowerCase();
    if (value === undefined) continue;
    const prev = fields[name];
    fields[name] = prev === undefined ? value : [prev, value].flat().map(String);
  }
  ex.res.writeHead(status, fields).end(body);
}

function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function sendError(ex: Exchange, error: VergeError, id: string, extra: readonly string[] = [], dev = false): void {
  if (ex.res.headersSent) {
    ex.res.destroy();
    return;
  }
  const body = JSON.stringify({ error: error.code, message: error.message, request_id: id, ...(dev ? error.guest : undefined) });
  const headers: Record<string, string | number> = {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(body),
    'x-request-id': id,
  };
  if (error.code === 'QUEUE_FULL' || error.code === 'QUEUE_TIMEOUT' || error.code === 'SHUTTING_DOWN') headers['retry-after'] = 1;
  // HTTP/2 has no connection header: a draining node sends each session GOAWAY instead.
  if (error.code === 'SHUTTING_DOWN' && !ex.http2) headers.connection = 'close';
  for (let i = 0; i + 1 < extra.length; i += 2) headers[extra[i]!] = extra[i + 1]!;
  respond(ex, error.status, headers, Buffer.from(body));
  endUnreadBody(ex, error);
}

/** Answered before the client finished sending: stop the upload, keep the answer. */
function endUnreadBody(ex: Exchange, error: VergeError): void {
  if (ex.req.complete) return;
  // RFC 9113 §8.1: RST_STREAM with NO_ERROR after a complete response stops the upload; node sends it once the response is out.
  if (ex.http2) ex.req.stream.close(loadHttp2().constants.NGHTTP2_NO_ERROR);
  else if (error.code === 'PAYLOAD_TOO_LARGE') discardRestOfBody(ex.res);
}

/**
 * After a 413 the client is usually still sending. Closing at once would reset the connection
 * under it and many clients would lose the 413; instead node:http discards (never buffers) what
 * is left, for a bounded time, after which the connection is dropped.
 */
function discardRestOfBody(res: ServerResponse): void {
  const req = res.req;
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), INGRESS_LIMITS.discardBodyMs);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

const GUEST_FAILURES = new Set<ErrorCode>(
  (Object.keys(ERROR_CATALOGUE) as ErrorCode[]).filter((c) => ERROR_CATALOGUE[c].blame === 'guest' && c !== 'DEADLINE_EXCEEDED'),
);

function finish(
  opts: IngressOptions,
  req: Exchange['req'],
  id: string,
  route: string,
  component: ComponentConfig | undefined,
  status: number,
  started: bigint,
  arrived: number,
  match: BoundRoute | undefined,
  trace: RequestTrace | undefined,
  workerSpans: EncodedSpans | undefined,
  admittedAt: number,
  measures: RunMeasures | undefined,
  error?: VergeError,
): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const name = component?.name ?? '-';
  const version = match?.target.version.shortId;
  if (trace) opts.tracing!.end(trace, serverSpan(opts, req, id, route, match, status, error), workerSpans);
  opts.metrics.observeRequest(match, status, seconds, admittedAt, measures, error?.code === 'QUEUE_TIMEOUT');
  if (error?.code === 'DEADLINE_EXCEEDED') opts.metrics.deadlineKills.inc({ component: name });
  if (error && GUEST_FAILURES.has(error.code)) opts.metrics.traps.inc({ component: name, code: error.code });
  opts.onAnswered?.({
    id,
    at: arrived,
    method: req.method ?? 'GET',
    path: (req.url ?? '/').split('?', 1)[0]!,
    route,
    app: match?.target.version.app.name,
    component: component?.name,
    version,
    status,
    durationMs: seconds * 1e3,
    error: error?.code,
  });
  const failed = error !== undefined && error.status >= 500;
  if (!opts.logger.isLevelEnabled(failed ? 'warn' : 'info')) return;
  const line = {
    request_id: id,
    ...(match ? { app: match.target.version.app.name } : {}),
    method: req.method,
    path: req.url,
    route,
    component: name,
    ...(version ? { version } : {}),
    ...(trace ? { trace_id: trace.context.traceId } : {}),
    status,
    duration_ms: Math.round(seconds * 1e6) / 1e3,
    ...(error ? { error: error.code, reason: error.message, ...error.guest } : {}),
  };
  if (failed) opts.logger.warn(line, 'request failed');
  else opts.logger.info(line, 'request');
}

/** The server span: HTTP semantic-convention attributes and Verge's own (app, component, version, request id). */
function serverSpan(opts: IngressOptions, req: Exchange['req'], id: string, route: string, match: BoundRoute | undefined, status: number, error: VergeError | undefined): ServerSpan {
  const method = req.method ?? 'GET';
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const attributes: ServerSpan['attributes'] = {
    'http.request.method': method,
    // The path without its query, which may carry a secret.
    'url.path': query === -1 ? url : url.slice(0, query),
    'url.scheme': opts.tls ? 'https' : 'http',
    'network.protocol.version': req.httpVersion,
    'http.response.status_code': status,
    'verge.request_id': id,
  };
  const host = hostName(req.headers.host ?? (req.headers[':authority'] as string | undefined));
  if (host) attributes['server.address'] = host;
  if (req.socket.localPort) attributes['server.port'] = req.socket.localPort;
  if (req.socket.remoteAddress) attributes['client.address'] = req.socket.remoteAddress;
  const agent = req.headers['user-agent'];
  if (agent) attributes['user_agent.original'] = agent;
  if (match) {
    attributes['http.route'] = route;
    attributes['verge.app'] = match.target.version.app.name;
    attributes['verge.component'] = match.target.component.name;
    attributes['verge.version'] = match.target.version.shortId;
  }
  if (error) attributes['error.type'] = error.code;
  return { name: match ? `${method} ${route}` : method, attributes, error: error && error.status >= 500 ? error.code : undefined };
}
