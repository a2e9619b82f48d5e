/**
 * Composition (docs/composition.md), on the main thread: what of chained calls and middleware is
 * not run in the worker.
 *
 * A chained call is a guest's outbound request to `http://COMPONENT.verge.internal/...`. The
 * caller's worker checks it and runs the callee itself, nested in the request it serves
 * (sandbox/chained.ts); it tells the main thread when the callee starts and how it ended. Here
 * each such request gets what a request from outside gets on the main thread: its log line and
 * its server span, and its place in the chain for its guest's log lines (parentOf).
 *
 * A route's middleware are components that run before its component. The first one gets the
 * request; each passes it on by calling `http://next.verge.internal/...` (a chained call to
 * what comes after it on the route) and answers with what it likes — the response it got, changed
 * or not, or its own. So a request with middleware is a chain that the route lays out: serve()
 * gives the first middleware the names of the stages after it, and the worker does the rest.
 */
import { ERROR_CATALOGUE, VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../telemetry/logging.js';
import type { RequestTrace, Tracing } from '../telemetry/tracing.js';
import { epochMs, parseTraceparent } from '../telemetry/trace/context.js';
import type { Outcome } from './pool.js';
import type { FromWorker, GuestRequest, TraceContext } from './protocol.js';

/** What of an app version a chain needs. */
export interface ChainVersion {
  readonly key: string;
  readonly shortId: string;
  readonly app: AppConfig;
}

export interface ChainDeps {
  pool: { run(request: GuestRequest, deadlineMs: number): Promise<Outcome> };
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

type ChainStart = Extract<FromWorker, { t: 'chain' }>;

export class Chains {
  /** The request whose chained call started each running callee. */
  private readonly parents = new Map<string, string>();

  constructor(private readonly deps: ChainDeps) {}

  /**
   * A request from outside, bound to a route: without middleware straight to the pool; with
   * middleware, the first one gets it, with the names of the stages its `next` reaches.
   */
  serve(request: GuestRequest, route: RouteStages): Promise<Outcome> {
    const [first, ...rest] = route.middleware;
    if (!first) return this.deps.pool.run(request, route.component.limits.timeoutMs);
    const next = [...rest, route.component].map((c) => c.name);
    return this.deps.pool.run({ ...request, component: first.name, next }, first.limits.timeoutMs);
  }

  /** The request whose chained call started this one, if any (for its log lines). */
  parentOf(requestId: string): string | undefined {
    return this.parents.get(requestId);
  }

  /** A worker started a chained call: returns what takes its outcome (its log line, its span). */
  started(start: ChainStart): (outcome: Outcome) => void {
    const { request, parent } = start;
    this.parents.set(request.id, parent);
    const held = this.deps.hold(request.version);
    const trace: RequestTrace | undefined = request.trace && this.deps.tracing ? { context: request.trace, parent: parseTraceparent(start.traceparent), start: start.startedAt } : undefined;
    return (outcome) => {
      this.parents.delete(request.id);
      try {
        if (held) this.end(start, held.version, trace, outcome);
      } finally {
        held?.release();
      }
    };
  }

  private end(start: ChainStart, version: ChainVersion, trace: RequestTrace | undefined, outcome: Outcome): void {
    const { request } = start;
    const error = outcome.ok ? undefined : outcome.error;
    const status = outcome.ok ? outcome.response.status : ERROR_CATALOGUE[outcome.error.code].status || 500;
    const ms = epochMs() - start.startedAt;
    if (trace) {
      const attributes = {
        'http.request.method': request.method,
        'url.path': request.url.split('?', 1)[0]!,
        'url.scheme': 'http',
        'http.route': request.route,
        'http.response.status_code': status,
        'server.address': request.serverName,
        'verge.app': version.app.name,
        'verge.component': request.component,
        'verge.version': version.shortId,
        'verge.request_id': request.id,
        'verge.parent_request_id': start.parent,
        ...(error ? { 'error.type': error.code } : {}),
      };
      this.deps.tracing!.end(trace, { name: `${request.method} ${request.route}`, attributes, error: error && error.status >= 500 ? error.code : undefined }, outcome.spans);
    }
    this.log(start, version, status, ms, trace?.context, error);
  }

  /** One line per chained request, as the ingress logs one per inbound request; both ids on it. */
  private log(start: ChainStart, version: ChainVersion, status: number, ms: number, trace: TraceContext | undefined, error: VergeError | undefined): void {
    const failed = error !== undefined && error.status >= 500;
    const { logger } = this.deps;
    if (!logger.isLevelEnabled(failed ? 'warn' : 'info')) return;
    const { request } = start;
    const line = {
      request_id: request.id,
      parent_request_id: start.parent,
      app: version.app.name,
      method: request.method,
      path: request.url,
      route: request.route,
      component: request.component,
      version: version.shortId,
      chain: start.chain.join(' → '),
      ...(trace ? { trace_id: trace.traceId } : {}),
      status,
      duration_ms: Math.round(ms * 1e3) / 1e3,
      ...(error ? { error: error.code, reason: error.message } : {}),
    };
    if (failed) logger.warn(line, 'chained request failed');
    else logger.info(line, 'chained request');
  }
}
