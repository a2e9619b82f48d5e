/**
 * Chained calls run in the caller's worker (docs/composition.md). The caller's guest is blocked
 * in its outbound call; the main thread checked the call (grant, budget, depth, cycle), routed it
 * and answered with a ChainedOrder; here the callee runs at once, in a fresh instance, in this
 * thread, and its response goes straight back to the caller. No other worker is woken and no
 * request hops between threads, which is what made a chained call cost as much as a network one.
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
 * own cleanup (nor did any callee inside it): their frames are ended here and what they opened closed.
 *
 * Each nesting level has its own WAGI runner (buffers, WASI state) and output sinks, so a callee
 * does not write into its caller's. Making a component's next instance can wait: it is done after
 * the caller's request is answered (settle()).
 */
import vm from 'node:vm';
import { chainedErrorResponse } from '../dispatch/chained-error.js';
import { HostCallError } from '../capabilities/abi.js';
import type { ChainedOrder, EncodedSpans, GuestResponse, OutboundResponseSpec } from '../dispatch/protocol.js';
import { epochMs } from '../telemetry/trace/context.js';
import { postFailure, postResponse, type Failure, type Post } from './answer.js';
import { LastWords } from './guest-failure.js';
import { LineSink } from './output.js';
import { RequestMeasures } from './measures.js';
import type { GuestScope } from './scope.js';
import { ComponentRunner } from './component/runner.js';
import { executeComponent, prepareNext } from './component/serve.js';
import { createWagiRunner, type WagiModule, type WagiRunner } from './wagi/runner.js';
import type { createVergeImports } from '../capabilities/guest-imports.js';

export interface ChainedDeps {
  scope: GuestScope;
  post: Post;
  vergeImports: ReturnType<typeof createVergeImports>;
  /** The module set's entry for a component of a loaded version. */
  find(version: string, component: string): WagiModule | ComponentRunner | undefined;
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

export class ChainedRuns {
  private readonly levels: Level[] = [];
  private depth = 0;
  private readonly later: Array<() => void> = [];
  private readonly context = vm.createContext({ run: undefined as (() => unknown) | undefined });
  private readonly script = new vm.Script('run()', { filename: 'verge:chained-call' });

  constructor(private readonly deps: ChainedDeps) {}

  /** Runs the callee and answers with its response, or with the error response a client would have got. */
  run(order: ChainedOrder): OutboundResponseSpec {
    const { scope } = this.deps;
    const req = order.request;
    const m = this.deps.find(req.version, req.component);
    if (!m) return this.answer(order, { failure: { code: 'INTERNAL', message: `component ${req.component} of version ${req.version} is not loaded in this worker` } }, undefined);
    // Its caller's deadline comes first (as when both have the same timeout_ms): what ends the caller ends it, and no watchdog is needed.
    const callerEnds = scope.frame.deadlineAt;
    const now = Date.now();
    const deadlineAt = now + order.timeoutMs;
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
        level.wagi.recycle(m, ran.memory);
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
      scope.measures = mark.measures;
    }
    if (!wagi) this.later.push(() => prepareNext(m));
    return this.answer(order, result.answer, result.spans);
  }

  /** After the caller's request was answered: memories go back to their shelves, components make their next instance. */
  settle(): void {
    for (const fn of this.later.splice(0)) fn();
  }

  /** Reports the run to the pool (status only) and makes the caller's response. */
  private answer(order: ChainedOrder, answer: { response: GuestResponse } | { failure: Failure }, spans: EncodedSpans | undefined): OutboundResponseSpec {
    const { post } = this.deps;
    const id = order.request.id;
    const measures = this.level(this.depth).measures;
    if ('response' in answer && (answer.response.status < 200 || answer.response.status > 599)) {
      answer = { failure: { code: 'GUEST_BAD_RESPONSE', message: `the guest answered status ${answer.response.status}; a response status must be from 200 to 599` } };
    }
    if ('failure' in answer) {
      postFailure(post, id, answer.failure, undefined, spans, measures);
      return chainedErrorResponse(answer.failure.code, answer.failure.message, id);
    }
    const { status, headers, body } = answer.response;
    postResponse(post, id, { status, headers: [], body: new Uint8Array(0) }, false, spans, measures);
    if (body.byteLength > order.maxResponseBytes) {
      throw new HostCallError('LIMIT_EXCEEDED', `response from http://${order.request.serverName} is larger than the limit of ${order.maxResponseBytes} bytes (maxResponseBytes)`);
    }
    const pairs: Array<[string, string]> = [];
    for (let i = 0; i + 1 < headers.length; i += 2) pairs.push([headers[i]!, headers[i + 1]!]);
    pairs.push(['x-request-id', id]);
    return { status, headers: pairs, body };
  }

  /** `fn`, interrupted once `ms` have passed: it then throws ERR_SCRIPT_EXECUTION_TIMEOUT. */
  private bounded<T>(ms: number, fn: () => T): T {
    const previous = this.context.run;
    this.context.run = fn;
    try {
      return this.script.runInContext(this.context, { timeout: Math.max(1, Math.ceil(ms)) }) as T;
    } finally {
      this.context.run = previous;
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
}
