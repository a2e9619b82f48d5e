/**
 * Composition (docs/composition.md), on the main thread: chained calls and middleware.
 *
 * A chained call is a guest's outbound request to `http://COMPONENT.verge.internal/...`. The
 * outbound capability checks it (grant, shape, budget) and hands it here; it becomes a request of
 * its own — a fresh instance of the callee, in the same app version, with the callee's limits and
 * grants — run by the pool beside its caller, whose worker waits (pool.ts says how that cannot
 * deadlock). Its answer, or the error a client would have got, is the caller's response.
 *
 * A route's middleware are components that run before its component. The first one gets the
 * request; each passes it on by calling `http://next.verge.internal/...` (a chained call to
 * what comes after it on the route) and answers with what it likes — the response it got, changed
 * or not, or its own. So a request with middleware is a chain that the route lays out.
 *
 * Every request started here has a link: its chain from the inbound request down (for the depth
 * limit, cycles and logs) and, for a middleware, what comes next. Links live while the request runs.
 */
import { randomUUID } from 'node:crypto';
import { VergeError, isVergeError } from '../errors.js';
import { chainedErrorResponse } from './chained-error.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import { INTERNAL_DOMAIN, NEXT_COMPONENT } from '../manifest/hosts.js';
import type { ChainCall } from '../capabilities/capability.js';
import { Router, parsePattern, type RouteMatch, type RoutePattern } from '../ingress/router.js';
import { parseRequestTarget } from '../ingress/request-path.js';
import type { Logger } from '../telemetry/logging.js';
import type { RequestTrace, Tracing } from '../telemetry/tracing.js';
import { epochMs, formatTraceparent } from '../telemetry/trace/context.js';
import type { ChainedRun, Outcome } from './pool.js';
import type { ChainedOrder, GuestRequest, HostReply, OutboundResponseSpec, TraceContext } from './protocol.js';

/** Components in one chain, the inbound request's included: a call that would make it longer is refused. */
export const MAX_CHAIN_DEPTH = 10;

/** What of an app version a chain needs. */
export interface ChainVersion {
  readonly key: string;
  readonly shortId: string;
  readonly app: AppConfig;
}

export interface ChainDeps {
  pool: {
    run(request: GuestRequest, deadlineMs: number, chained?: ChainedRun): Promise<Outcome>;
    /** The call run by its caller's own worker, when the caller runs there (WorkerPool.nest). */
    nest?(request: GuestRequest, deadlineMs: number, chained: ChainedRun): { timeoutMs: number; outcome: Promise<Outcome> } | undefined;
  };
  /** The loaded version with this key, kept loaded until `release`. */
  hold(versionKey: string): { version: ChainVersion; release(): void } | undefined;
  logger: Logger;
  tracing?: Tracing | undefined;
}

/** A route, as the ingress bound the request to it. */
export interface RouteStages {
  readonly component: ComponentConfig;
  readonly middleware: readonly ComponentConfig[];
}

interface Link {
  readonly root: string;
  readonly parent: string | undefined;
  /** Component names from the inbound request's down to this request's. */
  readonly path: readonly string[];
  /** A middleware's next stages (the last is the route's component); empty for any other request. */
  readonly next: readonly ComponentConfig[];
  /** The inbound request: what a `next` request keeps of it (client, host, route). */
  readonly inbound: GuestRequest;
}

/** Refusals a guest's log shows (NOT_FOUND would pass as normal flow and go unlogged). */
type Refusal = { ok: false; status: 'LIMIT_EXCEEDED' | 'TIMEOUT' | 'UNAVAILABLE' | 'INVALID_ARGUMENT'; message: string };

export class Chains {
  private readonly links = new Map<string, Link>();
  /** Each component's own routes (private ones included), per app: a chained call is routed among them for its CGI split. */
  private readonly routers = new WeakMap<AppConfig, Map<string, Router<null>>>();
  /** Route patterns as the ingress matched them, for `next` requests. */
  private readonly patternRouters = new Map<string, Router<null>>();

  constructor(private readonly deps: ChainDeps) {}

  /**
   * A request from outside, bound to a route: without middleware straight to the pool; with
   * middleware, the first one gets it and the rest wait for its `next`.
   */
  serve(request: GuestRequest, route: RouteStages): Promise<Outcome> {
    const [first, ...rest] = route.middleware;
    if (!first) return this.deps.pool.run(request, route.component.limits.timeoutMs);
    this.links.set(request.id, { root: request.id, parent: undefined, path: [first.name], next: [...rest, route.component], inbound: request });
    return this.deps.pool.run({ ...request, component: first.name }, first.limits.timeoutMs).finally(() => this.links.delete(request.id));
  }

  /** The inbound request a request belongs to (itself when it is one). */
  rootOf(requestId: string): string {
    return this.links.get(requestId)?.root ?? requestId;
  }

  /** The request whose chained call started this one, if any (for its log lines). */
  parentOf(requestId: string): string | undefined {
    return this.links.get(requestId)?.parent;
  }

  /** Runs a chained call checked by the outbound capability; its answer is the caller's response. */
  async call(c: ChainCall): Promise<HostReply> {
    const { from } = c;
    const caller = this.links.get(from.requestId);
    const path = caller?.path ?? [from.component];
    const held = this.deps.hold(from.version);
    if (!held) return { ok: false, status: 'UNAVAILABLE', message: `app version ${from.version} is not loaded on this node` };
    // Held until the callee ends: when it runs in its caller's worker, that is after this returns.
    let release = true;
    try {
      const found = this.callee(c, caller, held.version.app);
      if (!found.ok) return found;
      const { callee, next } = found;
      if (path.includes(callee.name)) {
        return { ok: false, status: 'LIMIT_EXCEEDED', message: `a cycle: ${[...path, callee.name].join(' → ')} (a component appears once in a chain)` };
      }
      if (path.length >= MAX_CHAIN_DEPTH) {
        return { ok: false, status: 'LIMIT_EXCEEDED', message: `a chain may be at most ${MAX_CHAIN_DEPTH} components deep: ${[...path, callee.name].join(' → ')}` };
      }
      const left = from.deadlineAt === undefined ? callee.limits.timeoutMs : from.deadlineAt - Date.now();
      if (left <= 0) return { ok: false, status: 'TIMEOUT', message: `no time is left of the caller's deadline for http://${c.target}.${INTERNAL_DOMAIN}` };
      const built = this.request(c, callee, held.version, caller?.inbound);
      if (!built.ok) return { ok: true, value: errorResponse(built.error, randomUUID()) };
      const request = built.value;
      const link: Link = { root: caller?.root ?? from.requestId, parent: from.requestId, path: [...path, callee.name], next, inbound: caller?.inbound ?? request };
      const run = this.begin(request, link, c);
      const chained: ChainedRun = { parent: from.requestId, endBy: from.deadlineAt ?? Date.now() + left, signal: c.signal };
      const nested = this.deps.pool.nest?.(request, callee.limits.timeoutMs, chained);
      if (nested) {
        release = false;
        void nested.outcome.then((outcome) => {
          this.end(run, request, callee, link, c, held.version, outcome);
          held.release();
        });
        const order: ChainedOrder = { request, timeoutMs: nested.timeoutMs, ownTimeoutMs: callee.limits.timeoutMs, maxResponseBytes: c.maxResponseBytes ?? Number.MAX_SAFE_INTEGER };
        return { ok: true, value: { chained: order } };
      }
      let outcome: Outcome;
      try {
        outcome = await this.deps.pool.run(request, callee.limits.timeoutMs, chained);
      } catch (err) {
        this.links.delete(request.id);
        throw err;
      }
      return { ok: true, value: this.end(run, request, callee, link, c, held.version, outcome) };
    } finally {
      if (release) held.release();
    }
  }

  /** The component the call reaches, and what comes after it when it is a middleware's `next`. */
  private callee(c: ChainCall, caller: Link | undefined, app: AppConfig): { ok: true; callee: ComponentConfig; next: readonly ComponentConfig[] } | Refusal {
    if (c.target === NEXT_COMPONENT) {
      const [callee, ...next] = caller?.next ?? [];
      if (!callee) {
        return { ok: false, status: 'INVALID_ARGUMENT', message: `http://${NEXT_COMPONENT}.${INTERNAL_DOMAIN}: component ${c.from.component} is not running as a route's middleware, so nothing comes next` };
      }
      return { ok: true, callee, next };
    }
    const callee = app.components.get(c.target);
    if (!callee) return { ok: false, status: 'INVALID_ARGUMENT', message: `http://${c.target}.${INTERNAL_DOMAIN}: app ${app.name} has no component ${c.target}` };
    return { ok: true, callee, next: [] };
  }

  /**
   * The callee's request. A middleware's `next` request still comes from the client (its address,
   * host and route; the method, path, headers and body are the middleware's); a direct call comes
   * from inside the node, to the callee's host, routed among the callee's own routes.
   */
  private request(c: ChainCall, callee: ComponentConfig, version: ChainVersion, inbound: GuestRequest | undefined): { ok: true; value: GuestRequest } | { ok: false; error: VergeError } {
    const { request } = c;
    let target;
    try {
      target = parseRequestTarget(request.url.pathname + request.url.search);
    } catch (err) {
      return { ok: false, error: isVergeError(err) ? err : new VergeError('BAD_REQUEST', String(err)) };
    }
    const body = request.body ?? new Uint8Array(0);
    if (body.byteLength > callee.limits.maxRequestBytes) {
      return { ok: false, error: new VergeError('PAYLOAD_TOO_LARGE', `the request body is ${body.byteLength} bytes, over component ${callee.name}'s max_request_bytes (${callee.limits.maxRequestBytes})`) };
    }
    const next = c.target === NEXT_COMPONENT && inbound !== undefined;
    const host = next ? headerOf(inbound.rawHeaders, 'host') : `${c.target}.${INTERNAL_DOMAIN}`;
    const rawHeaders = request.headers.flat();
    if (host !== undefined) rawHeaders.push('host', host);
    const router = next ? this.routeRouter(inbound.route) : this.componentRouter(version.app, callee.name);
    let match: RouteMatch<null> | undefined;
    try {
      match = router.match(target.path);
    } catch {
      return { ok: false, error: new VergeError('BAD_REQUEST', `the path ${JSON.stringify(target.path.slice(0, 200))} has a malformed percent-encoding in a route parameter`) };
    }
    return {
      ok: true,
      value: {
        id: randomUUID(),
        version: version.key,
        component: callee.name,
        method: request.method,
        url: target.path + target.query,
        scheme: next ? inbound.scheme : 'http',
        httpVersion: next ? inbound.httpVersion : '1.1',
        rawHeaders,
        remoteAddr: next ? inbound.remoteAddr : '127.0.0.1',
        serverName: next ? inbound.serverName : `${c.target}.${INTERNAL_DOMAIN}`,
        serverPort: next ? inbound.serverPort : '80',
        route: match?.pattern ?? '/...',
        scriptName: match?.scriptName ?? '',
        pathInfo: match ? match.pathInfo : target.path,
        params: match?.params ?? [],
        body,
      },
    };
  }

  /** The callee's request starts: its trace span (when the caller's is traced) and its link. */
  private begin(request: GuestRequest, link: Link, c: ChainCall): { started: number; trace: RequestTrace | undefined } {
    const started = performance.now();
    const trace = c.traceparent !== undefined ? this.deps.tracing?.begin(c.traceparent, undefined) : undefined;
    if (trace) {
      request.trace = trace.context;
      request.rawHeaders = withTraceparent(request.rawHeaders, trace.context);
      trace.context.admittedAt = epochMs();
    }
    this.links.set(request.id, link);
    return { started, trace };
  }

  /** The callee's request ended: its response as its caller sees it, its span and its log line. */
  private end(run: { started: number; trace: RequestTrace | undefined }, request: GuestRequest, callee: ComponentConfig, link: Link, c: ChainCall, version: ChainVersion, outcome: Outcome): OutboundResponseSpec {
    this.links.delete(request.id);
    const { started, trace } = run;
    let response: OutboundResponseSpec;
    let error: VergeError | undefined;
    if (outcome.ok && (outcome.response.status < 200 || outcome.response.status > 599)) {
      error = new VergeError('GUEST_BAD_RESPONSE', `the guest answered status ${outcome.response.status}; a response status must be from 200 to 599`);
    } else if (!outcome.ok) error = outcome.error;
    if (error) response = errorResponse(error, request.id);
    else {
      const { status, headers, body } = (outcome as Extract<Outcome, { ok: true }>).response;
      response = { status, headers: [...pairs(headers), ['x-request-id', request.id]], body };
    }
    const ms = performance.now() - started;
    if (trace) {
      const attributes = {
        'http.request.method': request.method,
        'url.path': request.url.split('?', 1)[0]!,
        'url.scheme': 'http',
        'http.route': request.route,
        'http.response.status_code': response.status,
        'server.address': request.serverName,
        'verge.app': version.app.name,
        'verge.component': callee.name,
        'verge.version': version.shortId,
        'verge.request_id': request.id,
        'verge.parent_request_id': c.from.requestId,
        ...(error ? { 'error.type': error.code } : {}),
      };
      this.deps.tracing!.end(trace, { name: `${request.method} ${request.route}`, attributes, error: error && error.status >= 500 ? error.code : undefined }, outcome.spans);
    }
    this.log(request, link, version, response.status, ms, trace?.context, error);
    return response;
  }

  /** One line per chained request, as the ingress logs one per inbound request; both ids on it. */
  private log(request: GuestRequest, link: Link, version: ChainVersion, status: number, ms: number, trace: TraceContext | undefined, error: VergeError | undefined): void {
    const failed = error !== undefined && error.status >= 500;
    const { logger } = this.deps;
    if (!logger.isLevelEnabled(failed ? 'warn' : 'info')) return;
    const line = {
      request_id: request.id,
      parent_request_id: link.parent,
      app: version.app.name,
      method: request.method,
      path: request.url,
      route: request.route,
      component: request.component,
      version: version.shortId,
      chain: link.path.join(' → '),
      ...(trace ? { trace_id: trace.traceId } : {}),
      status,
      duration_ms: Math.round(ms * 1e3) / 1e3,
      ...(error ? { error: error.code, reason: error.message } : {}),
    };
    if (failed) logger.warn(line, 'chained request failed');
    else logger.info(line, 'chained request');
  }

  /** A `next` request is split by its route's pattern, like the inbound request was. */
  private routeRouter(pattern: string): Router<null> {
    let router = this.patternRouters.get(pattern);
    if (!router) {
      const parsed = parsePattern(pattern);
      this.patternRouters.set(pattern, (router = routerOf(typeof parsed === 'string' ? [] : [parsed])));
    }
    return router;
  }

  private componentRouter(app: AppConfig, component: string): Router<null> {
    let byName = this.routers.get(app);
    if (!byName) this.routers.set(app, (byName = new Map()));
    let router = byName.get(component);
    if (!router) byName.set(component, (router = routerOf(app.routes.filter((r) => r.component === component).map((r) => r.pattern))));
    return router;
  }
}

function routerOf(patterns: readonly RoutePattern[]): Router<null> {
  const router = new Router<null>();
  for (const p of patterns) router.add(p, null);
  return router;
}

/** What a client would have got for this error, as the caller's response. */
function errorResponse(error: VergeError, requestId: string): OutboundResponseSpec {
  return chainedErrorResponse(error.code, error.message, requestId);
}

function headerOf(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

/** The callee's guest sees a traceparent naming its own execution span, as an inbound request's guest does. */
function withTraceparent(rawHeaders: string[], trace: TraceContext): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() !== 'traceparent') out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  out.push('traceparent', formatTraceparent(trace.traceId, trace.spanId, trace.sampled));
  return out;
}

function pairs(flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}
