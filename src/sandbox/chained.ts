/**
 * Chained calls (docs/composition.md), run in the caller's worker. The caller's guest is blocked
 * in its outbound call to `http://COMPONENT.verge.internal` (or a middleware's to
 * `http://next.verge.internal`); the worker checks the call itself — the grant, the request's
 * shape, the outbound budget of the whole chain, depth and cycles, the time left — routes it
 * among the callee's routes, and runs the callee at once, in a fresh instance, in this thread. Its
 * response goes straight back to the caller. The main thread is told, not asked: a 'chain'
 * message before the run and the callee's answer after it (for its log line and span), on the
 * same port as its log lines. So a chained call wakes no other thread and waits on none, and
 * chains cannot deadlock on the pool, however deep or many.
 *
 * The callee keeps everything a request of its own has: its frame (grants, id, deadline, spans,
 * log budget), its limits and its failures, which answer the caller as a response (a trap is a
 * 500, as a client would get it). Its deadline is its timeout_ms capped by what is left of its
 * caller's. When the caller's comes first, what ends the caller ends the callee with it (the pool
 * terminates the worker at the request's deadline) and nothing more is needed. When the callee's
 * own comes first, a worker's termination would take the caller with it: the run is then bounded
 * by V8's own interruption (node:vm's timeout, which terminates the isolate's execution and
 * cancels the termination at the run's boundary), so only the callee's frames unwind and the
 * caller goes on with a 504. That watchdog is a thread started per run (~50–150 µs on these
 * machines), which is why it is armed only when needed. A run stopped that way never reached its
 * own cleanup (nor did any callee inside it): their frames are ended here, what they opened is
 * closed, and the worker's stores undo what an operation cut short began.
 *
 * Each nesting level has its own WAGI runner (buffers, WASI state) and output sinks, so a callee
 * does not write into its caller's. Making a component's next instance can wait: it is done after
 * the caller's request is answered (settle()).
 */
import vm from 'node:vm';
import { randomUUID } from 'node:crypto';
import { HostCallError } from '../capabilities/abi.js';
import type { CalleeSpec, EncodedSpans, FromWorker, GuestRequest, GuestResponse, OutboundRequestSpec, OutboundResponseSpec, TraceContext } from '../dispatch/protocol.js';
import { INTERNAL_DOMAIN, NEXT_COMPONENT } from '../manifest/hosts.js';
import { DEFAULT_OUTBOUND_LIMITS, createRequestBudget, type RequestBudget } from '../capabilities/outbound-http/limits.js';
import { validateRequest } from '../capabilities/outbound-http/validate.js';
import { parseRequestTarget } from '../ingress/request-path.js';
import { Router, parsePattern, type RouteMatch } from '../ingress/router.js';
import { epochMs, formatTraceparent, newSpanId } from '../telemetry/trace/context.js';
import { ERROR_CATALOGUE, isVergeError, type ErrorCode } from '../errors.js';
import { bytes } from '../capabilities/outbound-http/text.js';
import { postFailure, postResponse, type Failure, type Post } from './answer.js';
import { LastWords } from './guest-failure.js';
import { LineSink } from './output.js';
import { RequestMeasures } from './measures.js';
import type { GuestScope } from './scope.js';
import { ComponentRunner } from './component/runner.js';
import { executeComponent, prepareNext } from './component/serve.js';
import { createWagiRunner, type WagiModule, type WagiRunner } from './wagi/runner.js';
import type { createVergeImports } from '../capabilities/guest-imports.js';

/** Components in one chain, the inbound request's included: a call that would make it longer is refused. */
export const MAX_CHAIN_DEPTH = 10;

export interface ChainedDeps {
  scope: GuestScope;
  post: Post;
  vergeImports: ReturnType<typeof createVergeImports>;
  /** The module set's entry for a component of a loaded version, with what running it as a callee needs. */
  find(version: string, component: string): { runnable: WagiModule | ComponentRunner; callee: CalleeSpec | undefined } | undefined;
  /** While a WAGI callee runs, the verge:v1 bindings read its memory: `runner` is pushed, and the stack cut back to its depth after. */
  enterWagi(runner: WagiRunner): void;
  wagiDepth(): number;
  leaveWagi(depth: number): void;
}

/** What one nesting level uses, made on first need. */
interface Level {
  wagi: WagiRunner;
  stdout: LineSink;
  stderr: LineSink;
  lastWords: LastWords;
  measures: RequestMeasures;
}

const TIMED_OUT = 'ERR_SCRIPT_EXECUTION_TIMEOUT';

/** A chained call's callee, ready to run. */
interface Order {
  request: GuestRequest;
  runnable: WagiModule | ComponentRunner;
  /** Its deadline (its own timeout_ms, capped by what is left of its caller's). */
  timeoutMs: number;
  ownTimeoutMs: number;
  /** The caller's cap on an outbound response body. */
  maxResponseBytes: number;
}

export class ChainedRuns {
  private readonly levels: Level[] = [];
  /** Chained runs open now (0 while only the inbound request runs). */
  private depth = 0;
  /** The request served at each depth, the inbound request's first, and the chain down to it (component names). */
  private readonly served: Array<{ request: GuestRequest; chain: string[] }> = [];
  private readonly later: Array<() => void> = [];
  /** Made on the first bounded run: a context costs a worker's start a millisecond or two that most never use. */
  private watchdog: { context: { run: (() => unknown) | undefined }; script: vm.Script } | undefined;
  /** Each callee's router over its own routes, and each route pattern's (for `next` requests). */
  private readonly routers = new WeakMap<CalleeSpec, Router<null>>();
  private readonly patternRouters = new Map<string, Router<null>>();

  constructor(private readonly deps: ChainedDeps) {}

  /** The worker starts serving an inbound request: chains start from it. */
  serving(request: GuestRequest): void {
    this.served.length = 0;
    this.served.push({ request, chain: [request.component] });
  }

  /**
   * An outbound call to `http://TARGET.verge.internal` by the guest running now: checked, then run
   * as the callee's own request; its response, or the error response a client would have got.
   * A refusal throws a HostCallError, as a refused network call does.
   */
  call(spec: OutboundRequestSpec, target: string, budget: RequestBudget, traceparent: string | undefined): OutboundResponseSpec {
    const { scope } = this.deps;
    const frame = scope.frame;
    const grants = frame.grants.outbound;
    if (!grants) throw new HostCallError('ACCESS_DENIED', `component ${frame.component} has no allowed_outbound_hosts, so http://${target}.${INTERNAL_DOMAIN} is refused`);
    const { url } = validateRequest(spec, { ...DEFAULT_OUTBOUND_LIMITS, maxRequestBodyBytes: grants.maxRequestBodyBytes });
    if (target === '') throw new HostCallError('INVALID_ARGUMENT', `${url.host} names no component: a chained call goes to http://COMPONENT.${INTERNAL_DOMAIN}`);
    if (url.protocol !== 'http:' || (url.port !== '' && url.port !== '80')) {
      throw new HostCallError('INVALID_ARGUMENT', `${url.protocol}//${url.host}: a chained call is plain http on the default port (http://${target}.${INTERNAL_DOMAIN}); it never leaves the node`);
    }
    if (target !== NEXT_COMPONENT && grants.chains !== '*' && !grants.chains.includes(target)) {
      throw new HostCallError(
        'ACCESS_DENIED',
        `component ${frame.component} may not call http://${target}.${INTERNAL_DOMAIN}: its allowed_outbound_hosts needs "http://${target}.${INTERNAL_DOMAIN}" or "http://*.${INTERNAL_DOMAIN}"`,
      );
    }
    budget.take();
    const here = this.served[this.depth]!;
    let calleeName = target;
    let next: string[] | undefined;
    if (target === NEXT_COMPONENT) {
      const [first, ...rest] = here.request.next ?? [];
      if (!first) {
        throw new HostCallError('INVALID_ARGUMENT', `http://${NEXT_COMPONENT}.${INTERNAL_DOMAIN}: component ${here.request.component} is not running as a route's middleware, so nothing comes next`);
      }
      calleeName = first;
      next = rest;
    }
    const version = frame.version;
    const found = this.deps.find(version, calleeName);
    if (!found?.callee) throw new HostCallError('INVALID_ARGUMENT', `http://${target}.${INTERNAL_DOMAIN}: the app has no component ${calleeName}`);
    const chain = [...here.chain, calleeName];
    if (here.chain.includes(calleeName)) throw new HostCallError('LIMIT_EXCEEDED', `a cycle: ${chain.join(' → ')} (a component appears once in a chain)`);
    if (here.chain.length >= MAX_CHAIN_DEPTH) throw new HostCallError('LIMIT_EXCEEDED', `a chain may be at most ${MAX_CHAIN_DEPTH} components deep: ${chain.join(' → ')}`);
    const callee = found.callee;
    const left = frame.deadlineAt === undefined ? callee.timeoutMs : frame.deadlineAt - Date.now();
    if (left <= 0) throw new HostCallError('TIMEOUT', `no time is left of the caller's deadline for http://${target}.${INTERNAL_DOMAIN}`);

    const inbound = this.served[0]!.request;
    const built = this.request(spec, url, target, calleeName, callee, version, next === undefined ? undefined : inbound);
    if (!built.ok) return errorResponse(built.code, built.message, randomUUID());
    const request = built.request;
    if (next !== undefined) request.next = next;
    if (frame.trace) {
      request.trace = calleeTrace(frame.trace, traceparent);
      request.rawHeaders = withTraceparent(request.rawHeaders, request.trace);
    }
    const { body: _body, ...withoutBody } = request;
    const note: Extract<FromWorker, { t: 'chain' }> = {
      t: 'chain',
      request: { ...withoutBody, body: new Uint8Array(0) },
      parent: here.request.id,
      root: inbound.id,
      chain,
      traceparent,
      startedAt: epochMs(),
    };
    this.deps.post(note);
    this.served[this.depth + 1] = { request, chain };
    return this.run({ request, runnable: found.runnable, timeoutMs: Math.min(callee.timeoutMs, left), ownTimeoutMs: callee.timeoutMs, maxResponseBytes: grants.maxResponseBytes });
  }

  /** After the caller's request was answered: components make their next instance. */
  settle(): void {
    for (const fn of this.later.splice(0)) fn();
  }

  /**
   * The callee's request. A middleware's `next` request still comes from the client (its address,
   * host and route; the method, path, headers and body are the middleware's); a direct call comes
   * from inside the node, to the callee's host, routed among the callee's own routes.
   */
  private request(
    spec: OutboundRequestSpec,
    url: URL,
    target: string,
    component: string,
    callee: CalleeSpec,
    version: string,
    inbound: GuestRequest | undefined,
  ): { ok: true; request: GuestRequest } | { ok: false; code: ErrorCode; message: string } {
    let parsed;
    try {
      parsed = parseRequestTarget(url.pathname + url.search);
    } catch (err) {
      return { ok: false, code: 'BAD_REQUEST', message: isVergeError(err) ? err.message : String(err) };
    }
    const body = spec.body;
    if (body.byteLength > callee.maxRequestBytes) {
      return { ok: false, code: 'PAYLOAD_TOO_LARGE', message: `the request body is ${body.byteLength} bytes, over component ${component}'s max_request_bytes (${callee.maxRequestBytes})` };
    }
    const host = inbound ? headerOf(inbound.rawHeaders, 'host') : `${target}.${INTERNAL_DOMAIN}`;
    const rawHeaders = spec.headers.flat();
    if (host !== undefined) rawHeaders.push('host', host);
    const router = inbound ? this.routeRouter(inbound.route) : this.calleeRouter(callee);
    let match: RouteMatch<null> | undefined;
    try {
      match = router.match(parsed.path);
    } catch {
      return { ok: false, code: 'BAD_REQUEST', message: `the path ${JSON.stringify(parsed.path.slice(0, 200))} has a malformed percent-encoding in a route parameter` };
    }
    return {
      ok: true,
      request: {
        id: randomUUID(),
        version,
        component,
        method: spec.method,
        url: parsed.path + parsed.query,
        scheme: inbound ? inbound.scheme : 'http',
        httpVersion: inbound ? inbound.httpVersion : '1.1',
        rawHeaders,
        remoteAddr: inbound ? inbound.remoteAddr : '127.0.0.1',
        serverName: inbound ? inbound.serverName : `${target}.${INTERNAL_DOMAIN}`,
        serverPort: inbound ? inbound.serverPort : '80',
        route: match?.pattern ?? '/...',
        scriptName: match?.scriptName ?? '',
        pathInfo: match ? match.pathInfo : parsed.path,
        params: match?.params ?? [],
        body,
      },
    };
  }

  /** Runs the callee and answers with its response, or with the error response a client would have got. */
  private run(order: Order): OutboundResponseSpec {
    const { scope } = this.deps;
    const { request: req, runnable: m } = order;
    // Its caller's deadline comes first (as when both have the same timeout_ms): what ends the caller ends it, and no watchdog is needed.
    const callerEnds = scope.frame.deadlineAt;
    const deadlineAt = Date.now() + order.timeoutMs;
    const bounded = callerEnds === undefined || deadlineAt < callerEnds - 1;
    // Where the run started: a run stopped from outside returns to it whatever it had begun (no catch or finally of the run ran).
    const mark = { depth: this.depth, frames: scope.depth, wagi: this.deps.wagiDepth(), measures: scope.measures };
    const level = this.level(this.depth++);
    scope.measures = level.measures;
    level.measures.start(req.id, epochMs());
    const wagi = !(m instanceof ComponentRunner);
    let result: { answer: { response: GuestResponse } | { failure: Failure }; spans: EncodedSpans | undefined };
    try {
      const execute = () => {
        if (!wagi) return executeComponent({ ...this.deps, stdout: level.stdout, stderr: level.stderr, lastWords: level.lastWords }, m, req, deadlineAt);
        this.deps.enterWagi(level.wagi);
        const ran = level.wagi.execute(m, req, deadlineAt);
        // At once (a small memory is zeroed in microseconds): the caller's next call takes it from the shelf again.
        level.wagi.recycle(m, ran.memory, ran.kept);
        return ran;
      };
      result = bounded ? this.bounded(order.timeoutMs, execute) : execute();
    } catch (err) {
      if ((err as { code?: unknown })?.code !== TIMED_OUT) throw err;
      scope.interrupted(mark.frames);
      for (let i = mark.depth; i < this.levels.length; i++) this.levels[i]!.wagi.abandon();
      const message = `the guest did not answer within its timeout_ms (${order.ownTimeoutMs} ms); it was stopped, and its caller goes on`;
      result = { answer: { failure: { code: 'DEADLINE_EXCEEDED', message } }, spans: undefined };
    } finally {
      this.deps.leaveWagi(mark.wagi);
      this.depth = mark.depth;
      this.served.length = mark.depth + 1;
      scope.measures = mark.measures;
    }
    if (!wagi) this.later.push(() => prepareNext(m));
    return this.answer(order, level.measures, result.answer, result.spans);
  }

  /** Reports the run to the main thread (its status, not its body) and makes the caller's response. */
  private answer(order: Order, measures: RequestMeasures, answer: { response: GuestResponse } | { failure: Failure }, spans: EncodedSpans | undefined): OutboundResponseSpec {
    const { post } = this.deps;
    const id = order.request.id;
    if ('response' in answer && (answer.response.status < 200 || answer.response.status > 599)) {
      answer = { failure: { code: 'GUEST_BAD_RESPONSE', message: `the guest answered status ${answer.response.status}; a response status must be from 200 to 599` } };
    }
    if ('failure' in answer) {
      postFailure(post, id, answer.failure, undefined, spans, measures);
      return errorResponse(answer.failure.code, answer.failure.message, id);
    }
    const { status, headers, body } = answer.response;
    postResponse(post, id, { status, headers: [], body: new Uint8Array(0) }, false, spans, measures);
    if (body.byteLength > order.maxResponseBytes) {
      throw new HostCallError('LIMIT_EXCEEDED', `response from http://${order.request.serverName} is larger than the limit of ${bytes(order.maxResponseBytes)} (maxResponseBytes)`);
    }
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!]);
    pairs.push(['x-request-id', id]);
    return { status, headers: pairs, body };
  }

  /** `fn`, interrupted once `ms` have passed: it then throws ERR_SCRIPT_EXECUTION_TIMEOUT. */
  private bounded<T>(ms: number, fn: () => T): T {
    const w = (this.watchdog ??= { context: vm.createContext({ run: undefined }) as { run: (() => unknown) | undefined }, script: new vm.Script('run()', { filename: 'verge:chained-call' }) });
    const previous = w.context.run;
    w.context.run = fn;
    try {
      return w.script.runInContext(w.context, { timeout: Math.max(1, Math.ceil(ms)) }) as T;
    } finally {
      w.context.run = previous;
    }
  }

  private level(i: number): Level {
    let level = this.levels[i];
    if (!level) {
      const { scope, post, vergeImports } = this.deps;
      const lastWords = new LastWords();
      const stderr = new LineSink((line) => {
        lastWords.line(line);
        scope.log('info', line, 'stderr');
      });
      const stdout = new LineSink((line) => scope.log('info', line, 'stdout'));
      level = { wagi: createWagiRunner({ scope, post, stderr, lastWords, vergeImports }), stdout, stderr, lastWords, measures: new RequestMeasures(post) };
      this.levels[i] = level;
    }
    return level;
  }

  private calleeRouter(callee: CalleeSpec): Router<null> {
    let router = this.routers.get(callee);
    if (!router) this.routers.set(callee, (router = routerOf(callee.routes)));
    return router;
  }

  /** A `next` request is split by its route's pattern, like the inbound request was. */
  private routeRouter(pattern: string): Router<null> {
    let router = this.patternRouters.get(pattern);
    if (!router) this.patternRouters.set(pattern, (router = routerOf([pattern])));
    return router;
  }
}

function routerOf(patterns: readonly string[]): Router<null> {
  const router = new Router<null>();
  for (const p of patterns) {
    const parsed = parsePattern(p);
    if (typeof parsed !== 'string') router.add(parsed, null);
  }
  return router;
}

/**
 * The callee's trace context: in its caller's trace, its parent the caller's client span
 * (`traceparent`), sampled as its caller is; its server span and execution span are its own.
 */
function calleeTrace(caller: TraceContext, traceparent: string | undefined): TraceContext {
  const parentSpan = traceparent?.split('-')[2] ?? caller.spanId;
  const serverSpanId = caller.sampled ? newSpanId() : parentSpan;
  return { traceId: caller.traceId, serverSpanId, spanId: caller.sampled ? newSpanId() : serverSpanId, sampled: caller.sampled, tracestate: caller.tracestate, admittedAt: epochMs() };
}

/** The callee's guest sees a traceparent naming its own execution span, as an inbound request's guest does. */
function withTraceparent(rawHeaders: string[], trace: TraceContext): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() !== 'traceparent') out.push(rawHeaders[i]!, rawHeaders[i + 1]!);
  out.push('traceparent', formatTraceparent(trace.traceId, trace.spanId, trace.sampled));
  return out;
}

function headerOf(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  return undefined;
}

/** What a client would have got for this error (the body the ingress writes), as the caller's response. */
function errorResponse(code: ErrorCode, message: string, requestId: string): OutboundResponseSpec {
  const body = new TextEncoder().encode(JSON.stringify({ error: code, message, request_id: requestId }));
  const status = ERROR_CATALOGUE[code].status || 500;
  return { status, headers: [['content-type', 'application/json'], ['x-request-id', requestId]], body };
}
