/**
 * The ingress: node:http with header and body timeouts and a header size cap, a request id on
 * every response, routing, the bounded body read, dispatch to the worker pool, and the access log.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CATALOGUE, VergeError, isVergeError, type ErrorCode } from '../errors.js';
import type { ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { WorkerPool } from '../dispatch/pool.js';
import type { GuestRequest } from '../dispatch/protocol.js';
import { readBody } from './body.js';
import { parseRequestTarget } from './request-path.js';
import type { RouteMatch } from './router.js';
import { hostOf } from '../manifest/hosts.js';

/** A route found and the request bound to the app version serving it, until `release`. */
export interface BoundRoute extends RouteMatch<{ version: { key: string }; component: ComponentConfig }> {
  release(): void;
}

/** Connection-level limits (slowloris and oversized headers); per-route limits live in the manifest. */
export const INGRESS_LIMITS = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 10_000,
  /** Time to receive the whole request, headers and body. */
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  /** After a 413, how long the rest of the body is read and thrown away before the connection is dropped. */
  discardBodyMs: 5_000,
  /** How often node:http looks for connections past the two timeouts above. */
  connectionsCheckingIntervalMs: 1_000,
} as const;

export interface IngressOptions {
  /** Host (name only, lower case) and path → the route, bound to its app version. */
  bind: (host: string | undefined, path: string) => BoundRoute | undefined;
  pool: WorkerPool;
  logger: Logger;
  metrics: Metrics;
  /** Set while draining: new requests get 503 SHUTTING_DOWN. */
  draining: () => boolean;
}

const JSON_TYPE = 'application/json';

export function createIngress(opts: IngressOptions): http.Server {
  const server = http.createServer(
    {
      maxHeaderSize: INGRESS_LIMITS.maxHeaderBytes,
      requestTimeout: INGRESS_LIMITS.requestTimeoutMs,
      headersTimeout: INGRESS_LIMITS.headersTimeoutMs,
      connectionsCheckingInterval: INGRESS_LIMITS.connectionsCheckingIntervalMs,
    },
    (req, res) => void handle(opts, req, res),
  );
  server.keepAliveTimeout = INGRESS_LIMITS.keepAliveTimeoutMs;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => onClientError(opts, err, socket));
  return server;
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
  opts.metrics.observeRequest('-', ERROR_CATALOGUE[code].status, undefined);
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

async function handle(opts: IngressOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const started = process.hrtime.bigint();
  const id = randomUUID();
  let component: ComponentConfig | undefined;
  let route = '-';
  let match: BoundRoute | undefined;
  try {
    if (opts.draining()) throw new VergeError('SHUTTING_DOWN', 'the node is shutting down');
    const { path, query, authority } = parseRequestTarget(req.url ?? '/');
    // The guest sees the path that was routed, never the spelling that might climb out of its route.
    const url = path + query;
    const rawHeaders = authority === undefined ? req.rawHeaders : withHost(req.rawHeaders, authority);
    try {
      match = opts.bind(hostOf(authority ?? req.headers.host), path);
    } catch {
      throw new VergeError('BAD_REQUEST', `the path ${JSON.stringify(path.slice(0, 200))} has a malformed percent-encoding in a route parameter`);
    }
    if (!match) throw new VergeError('NOT_FOUND', `no route matches ${JSON.stringify(path.slice(0, 200))}`);
    component = match.target.component;
    route = match.pattern;
    const body = await readBody(req, component.limits.maxRequestBytes);
    const local = req.socket.localAddress ?? '';
    const request: GuestRequest = {
      id,
      version: match.target.version.key,
      component: component.name,
      method: req.method ?? 'GET',
      url,
      scheme: 'http',
      httpVersion: req.httpVersion,
      rawHeaders,
      remoteAddr: req.socket.remoteAddress ?? '',
      serverName: hostName(authority ?? req.headers.host) ?? local,
      serverPort: String(req.socket.localPort ?? ''),
      route,
      scriptName: match.scriptName,
      pathInfo: match.pathInfo,
      params: match.params,
      body,
    };
    const outcome = await opts.pool.run(request, component.limits.timeoutMs);
    if (!outcome.ok) throw outcome.error;
    const { status, headers, body: out } = outcome.response;
    // A HEAD handler may leave the body out; then the length of the GET body is unknown.
    if (out.length > 0 || request.method !== 'HEAD') headers.push('content-length', String(out.length));
    headers.push('x-request-id', id);
    res.writeHead(status, headers);
    res.end(out);
    finish(opts, req, id, route, component, status, started);
  } catch (err) {
    const error = isVergeError(err) ? err : new VergeError('INTERNAL', 'internal error', { cause: err });
    sendError(res, error, id);
    finish(opts, req, id, route, component, error.status, started, error);
  } finally {
    match?.release();
  }
}

/** RFC 9112 §3.2.2: the authority of an absolute-form target replaces any Host header. */
function withHost(rawHeaders: string[], authority: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toLowerCase() !== 'host') out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  }
  out.push('host', authority);
  return out;
}

function hostName(host: string | undefined): string | undefined {
  if (!host) return undefined;
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function sendError(res: ServerResponse, error: VergeError, id: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: error.code, message: error.message, request_id: id });
  const headers: Record<string, string | number> = {
    'content-type': JSON_TYPE,
    'content-length': Buffer.byteLength(body),
    'x-request-id': id,
  };
  if (error.code === 'QUEUE_FULL' || error.code === 'QUEUE_TIMEOUT' || error.code === 'SHUTTING_DOWN') headers['retry-after'] = 1;
  if (error.code === 'SHUTTING_DOWN') headers.connection = 'close';
  res.writeHead(error.status, headers);
  res.end(body);
  if (error.code === 'PAYLOAD_TOO_LARGE') discardRestOfBody(res);
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
  req: IncomingMessage,
  id: string,
  route: string,
  component: ComponentConfig | undefined,
  status: number,
  started: bigint,
  error?: VergeError,
): void {
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const name = component?.name ?? '-';
  opts.metrics.observeRequest(name, status, component ? seconds : undefined);
  if (error?.code === 'DEADLINE_EXCEEDED') opts.metrics.deadlineKills.inc({ component: name });
  if (error && GUEST_FAILURES.has(error.code)) opts.metrics.traps.inc({ component: name, code: error.code });
  const failed = error !== undefined && error.status >= 500;
  if (!opts.logger.isLevelEnabled(failed ? 'warn' : 'info')) return;
  const line = {
    request_id: id,
    method: req.method,
    path: req.url,
    route,
    component: name,
    status,
    duration_ms: Math.round(seconds * 1e6) / 1e3,
    ...(error ? { error: error.code, reason: error.message } : {}),
  };
  if (failed) opts.logger.warn(line, 'request failed');
  else opts.logger.info(line, 'request');
}
