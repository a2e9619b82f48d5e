/**
 * The worker pool: admission queue, deadlines, worker replacement.
 *
 * A worker runs one request at a time, but the pool keeps up to PIPELINE_DEPTH requests posted
 * to it, so the next request is already waiting in the worker's port when the current one ends:
 * the worker does not sit idle for a main-thread round trip between requests (measured: that
 * round trip, not the guest, was what bounded throughput).
 *
 * What a post costs the main thread is mostly waking the worker's thread, not copying the request
 * (measured: ~15–20 µs to a worker asleep, ~2 µs to a busy one, on this 2-core VM). So requests
 * are not posted one by one: what the pool hands a worker during one turn of the event loop goes
 * in one message at the end of that turn (setImmediate, after the turn's sockets were read), and
 * one wake-up carries several requests when the ingress is busy. A request alone in the pool has
 * nothing to wait for: it is posted at once.
 *
 * Pipelining must not make a request wait behind someone else's slow guest. A request posted
 * behind a guest that has run TAKE_BACK_MS is taken back (job-claims.ts decides, race-free,
 * whether the worker already started it) and goes to the front of the queue for any other
 * worker; a worker whose guest has run that long gets nothing more posted. And a request's
 * deadline (its component's timeout_ms) runs from when its guest starts, not from admission:
 * waiting for a worker is bounded separately, by the same amount (503 QUEUE_TIMEOUT).
 *
 * A request whose deadline passes while it runs gets its worker terminated (the only way to stop
 * a guest that loops); the requests posted behind it never started, so they go back to the front
 * of the queue, and a warm spare, already holding every module, takes the worker's place.
 *
 * The pool is elastic when asked to be (`idleWorkers` below `size`): it starts that many workers,
 * adds one whenever a request finds every worker busy (up to `size`), and lets a worker beyond
 * the floor go once it has idled for `idleMs`. An idle node then holds one worker's isolate, not
 * `size` plus a spare (each is ~15 MiB of RSS); the warm spare is kept only while the pool is at
 * full size, which is when a deadline kill would otherwise leave the load a worker short.
 *
 * A guest that spins gives way. A request still running after DEMOTE_AFTER_MS is looked at every
 * DEMOTE_LOOK_MS: once its thread has used DEMOTE_CPU_MS of CPU since the first look (a guest
 * computing or looping, not one waiting on a host call or a sleep; CPU used, not wall time, so a
 * short request slowed down by an overloaded machine is not taken for one), its worker is
 * demoted. Its thread's nice value goes up (thread-priority.ts), so the node's other threads get
 * the cores while both want them; it takes no new request; and it stops counting toward `size`,
 * so a request that finds the others busy gets a worker in its place (a warm spare first). At most
 * `size` workers are demoted at once. When its request ends, a demoted worker gets its priority
 * back and serves again, or becomes the warm spare if another took its place (no new spare is made
 * meanwhile); where the OS refuses to put its priority back (no CAP_SYS_NICE), a fresh worker
 * takes its place. A guest killed at its deadline is replaced as before. Without this a looping
 * guest held one of two cores and one of two workers for its whole deadline, and everyone else's
 * requests queued behind it (bench/RESULTS.md, the soak). The bar (50 ms of CPU after 50 ms) is well above what a request
 * of the examples uses (an image resize: ~15 ms of CPU).
 *
 * Chained calls (docs/composition.md) run inside their caller's worker, nested in the request it
 * serves (sandbox/chained.ts): the worker says when one starts ('chain') and answers it under the
 * callee's id before its caller's answer. The pool routes those messages (the callee's log lines,
 * its answer) to `onChain`'s handler, and ends any still open with its caller's request.
 */
import type { Worker } from 'node:worker_threads';
import { VergeError, type GuestFailureDetail } from '../errors.js';
import type { EncodedSpans, FromWorker, GuestRequest, GuestResponse, HostCall, HostReply, ModuleSpec, RunMeasures, RunOrder, ToWorker, TraceContext } from './protocol.js';
import { createBridgeEnds, serveHostCalls } from './host-bridge.js';
import type { LogLevelName } from '../capabilities/logging/levels.js';
import { JobClaims, type Claim } from './job-claims.js';
import { discardPrespawned, spawnWorker } from './worker-spawn.js';
import { osThreadPriority, type ThreadPriority } from './thread-priority.js';

/** Requests posted to one worker at once: the running one and those next, so one message can carry several. */
export const PIPELINE_DEPTH = 4;
/**
 * A guest that has run this long is not followed by another request on its worker: what waits
 * behind it is taken back. Pipelining pays off for guests that run for about the main-thread
 * round trip it saves (~0.1 ms); behind a longer one it only adds waiting.
 */
export const TAKE_BACK_MS = 5;
/** A request that has run this long is looked at: is its guest computing? */
export const DEMOTE_AFTER_MS = 50;
/** CPU its thread uses after that first look that gets its worker demoted. */
export const DEMOTE_CPU_MS = 50;
/** How often long requests are looked at. */
export const DEMOTE_LOOK_MS = 25;
/** A worker beyond the idle floor that has idled this long goes away (an elastic pool). */
export const IDLE_WORKER_MS = 30_000;

export interface PoolOptions {
  size: number;
  /** Warm workers kept loaded to replace killed ones, while the pool is at `size`. */
  spares: number;
  /** Workers kept when there is no load (default `size`: the pool never shrinks); more start as requests wait, up to `size`. */
  idleWorkers?: number;
  /** How long a worker beyond `idleWorkers` idles before it goes (default IDLE_WORKER_MS). */
  idleMs?: number;
  queueLimit: number;
  /** `version`: the app version's key, as the request carries it. */
  onGuestLog?: (id: string, component: string, stream: 'stdout' | 'stderr' | 'guest' | 'host', level: LogLevelName, line: string, version: string, trace: TraceContext | undefined) => void;
  /** A request's guest spun, and its worker was demoted. */
  onDemoted?: (request: GuestRequest) => void;
  /** `worker`: the replaced worker's thread id. */
  onWorkerReplaced?: (reason: 'deadline' | 'crash', worker: number) => void;
  /** A breaker in a worker (one per worker for a store that lives there) changed state; `worker`: its thread id. */
  onBreaker?: (change: Extract<FromWorker, { t: 'breaker' }>, worker: number) => void;
  /** Work a worker asks of the main thread (capabilities/host-calls.ts). */
  hostCall: (call: HostCall) => Promise<HostReply>;
  /** A request is answered or abandoned: release what the main thread holds for it. */
  onRequestEnd?: (id: string) => void;
  /** A worker started a chained call inside the request it serves: the returned function gets its outcome (status, spans, failure; the body stayed in the worker). */
  onChain?: (start: Extract<FromWorker, { t: 'chain' }>) => ((outcome: Outcome) => void) | undefined;
  /** Worker threads' run time and priority (default: the OS's, thread-priority.ts). */
  priority?: ThreadPriority;
}

/**
 * spans: what the worker recorded for a sampled request; measures: what it measured of any
 * request it ran (both absent when it sent none, as when it was killed or never started it).
 */
export type Outcome =
  | { ok: true; response: GuestResponse; spans?: EncodedSpans | undefined; measures?: RunMeasures | undefined }
  | { ok: false; error: VergeError; spans?: EncodedSpans | undefined; measures?: RunMeasures | undefined };

interface Job {
  request: GuestRequest;
  /** Bounds its guest's run, and, apart, its wait for a worker. */
  deadlineMs: number;
  resolve: (outcome: Outcome) => void;
  /** Until it starts: the bound on its wait; then its deadline. */
  timer: NodeJS.Timeout | undefined;
  slot: Slot | undefined;
  /** Its cell in its worker's claims, while posted there. */
  claim: Claim | undefined;
  /** performance.now() when it became the first request of its worker (running): NaN before. */
  startedAt: number;
  done: boolean;
  /** Host-call timings the worker sent ahead of the answer (a request that made very many). */
  hostCalls: Float64Array[] | undefined;
  /** Chained calls its worker runs inside it now. */
  callees: Nested[] | undefined;
}

/** A chained call run inside its caller's worker: the worker reports it under its own id. */
interface Nested {
  request: GuestRequest;
  /** The request its worker serves, whose chain (directly or through other callees) made this call. */
  caller: Job;
  end: ((outcome: Outcome) => void) | undefined;
  done: boolean;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  /** Posted to the worker, in order; the first is the one running. */
  jobs: Job[];
  retired: boolean;
  /** Between an answer that said the worker has work left for it and the worker's 'settled'. */
  settling: boolean;
  /** Module sets posted to the worker and not yet acknowledged, by version. */
  loads: Map<string, { resolve: () => void; reject: (err: Error) => void }>;
  claims: JobClaims;
  /** Fires when the running guest reaches TAKE_BACK_MS, while requests wait behind it. */
  watch: NodeJS.Timeout | undefined;
  /** performance.now() when its last request ended (or it started). */
  idleSince: number;
  /** Requests posted to it this turn of the event loop, sent together at its end. */
  outbox: RunOrder[];
  /** Its thread's kernel id, once it said ready (undefined where the OS shows none). */
  tid: number | undefined;
  /** Its running guest spins: it does not count toward the pool's size until its requests end. */
  demoted: boolean;
  /** Its thread's priority was lowered (and must be put back). */
  reniced: boolean;
  /** The first look at its running request: its thread's CPU time then. */
  sample: { job: Job; cpuMs: number } | undefined;
}

export class WorkerPool {
  private readonly active: Slot[] = [];
  private readonly spares: Slot[] = [];
  private readonly queue: Job[] = [];
  private closed = false;
  private inFlight = 0;
  /** Every module set the workers hold, by version: a new worker (a spare) is loaded with all of them before it takes work. */
  private readonly versions = new Map<string, ModuleSpec[]>();
  private tookBack = 0;
  /** Chained calls running inside their callers' workers, by id. */
  private readonly nested = new Map<string, Nested>();
  /** Workers started for load, not serving until their modules are in. */
  private readonly growing = new Set<Slot>();
  private shrinkTimer: NodeJS.Timeout | undefined;
  /** Workers with an outbox to send at the end of this turn, and the turn's end. */
  private readonly unsent = new Set<Slot>();
  private sending: NodeJS.Immediate | undefined;
  /** Looks at long-running requests while any request is in flight. */
  private spinWatch: NodeJS.Timeout | undefined;
  private readonly priority: ThreadPriority;

  constructor(private readonly options: PoolOptions) {
    this.priority = options.priority ?? osThreadPriority();
  }

  async start(): Promise<void> {
    const slots: Slot[] = [];
    for (let i = 0; i < this.floor; i++) slots.push(this.spawn());
    discardPrespawned();
    await Promise.all(slots.map((s) => s.ready));
    this.active.push(...slots);
    // Started beside the serving workers, the spare only slowed their start on a 2-core machine (bench/RESULTS.md, start-up 2026-11-30).
    this.fillSpares();
    if (this.floor < this.options.size) {
      const every = Math.max(50, Math.floor(this.idleMs / 4));
      this.shrinkTimer = setInterval(() => this.shrink(), every);
      this.shrinkTimer.unref();
    }
  }

  /** Workers kept with no load. */
  private get floor(): number {
    return Math.max(1, Math.min(this.options.idleWorkers ?? this.options.size, this.options.size));
  }

  private get idleMs(): number {
    return this.options.idleMs ?? IDLE_WORKER_MS;
  }

  /** Active workers that count toward `size`: all but the demoted ones (at most `size` of those are not counted). */
  private get serving(): number {
    return this.active.length - Math.min(this.demoted, this.options.size);
  }

  /** Every live worker: serving, spare, or starting for load. */
  private get everyWorker(): Slot[] {
    return [...this.active, ...this.spares, ...this.growing];
  }

  /**
   * Every worker has a request (or one waits for a worker): start one more, unless the pool is at
   * its size. One at a time while nothing waits, else up to one per waiting request.
   */
  private growIfBusy(): void {
    if (this.closed || this.serving + this.growing.size >= this.options.size) return;
    if (this.growing.size >= Math.max(1, this.queue.length)) return;
    if (this.queue.length === 0 && this.active.some((s) => s.jobs.length === 0 && !s.settling)) return;
    const slot = this.spares.shift() ?? this.spawn();
    this.growing.add(slot);
    void slot.ready.then(
      () => {
        if (!this.growing.delete(slot) || slot.retired || this.closed) return;
        slot.idleSince = performance.now();
        this.active.push(slot);
        this.fillSpares();
        this.refill(slot);
        this.growIfBusy();
      },
      () => undefined,
    );
  }

  /**
   * At full size the pool keeps its warm spares. Not while a worker is demoted: it becomes the
   * spare when its request ends (or, killed at its deadline, is replaced then).
   */
  private fillSpares(): void {
    if (this.closed || this.serving < this.options.size || this.demoted > 0) return;
    while (this.spares.length < this.options.spares) this.spares.push(this.spawn());
  }

  /** Lets workers beyond the floor go once they have idled for idleMs, and the spares with them. */
  private shrink(): void {
    if (this.closed || this.active.length <= this.floor) return;
    const now = performance.now();
    for (let i = this.active.length - 1; i >= 0 && this.active.length > this.floor; i--) {
      const s = this.active[i]!;
      if (s.jobs.length > 0 || s.settling || now - s.idleSince < this.idleMs) continue;
      this.active.splice(i, 1);
      s.retired = true;
      clearTimeout(s.watch);
      void s.worker.terminate();
    }
    if (this.active.length < this.options.size) {
      for (const s of this.spares.splice(0)) {
        s.retired = true;
        void s.worker.terminate();
      }
    }
  }

  /**
   * Sends one version's modules to every worker, spares included, so a spare promoted after a
   * deadline kill never waits on a cold load. Resolves when the first worker has loaded it (a
   * worker busy with a long request loads it after that request, and a request for the version
   * posted to it waits behind the load, as messages keep their order); if the first answer is a
   * failure, the version is unloaded everywhere and the load rejects with the worker's reason.
   */
  async load(version: string, modules: ModuleSpec[]): Promise<void> {
    if (this.versions.has(version)) throw new Error(`version ${version} is already loaded`);
    this.versions.set(version, modules);
    const loads = this.everyWorker.map((s) => this.loadInto(s, version, modules));
    for (const l of loads) l.catch(() => undefined);
    try {
      await Promise.race(loads);
    } catch (err) {
      this.unload(version);
      throw err;
    }
  }

  /** Drops a version from every worker. The caller makes sure no request bound to it is still running. */
  unload(version: string): void {
    if (!this.versions.delete(version)) return;
    const msg: ToWorker = { t: 'unload', version };
    for (const s of this.everyWorker) if (!s.retired) s.worker.postMessage(msg);
  }

  /** The versions the workers hold. */
  get loadedVersions(): string[] {
    return [...this.versions.keys()];
  }

  private loadInto(slot: Slot, version: string, modules: ModuleSpec[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      slot.loads.set(version, { resolve, reject });
      const msg: ToWorker = { t: 'load', version, modules };
      slot.worker.postMessage(msg);
    });
  }

  get queued(): number {
    return this.queue.length;
  }

  get busy(): number {
    return this.inFlight;
  }

  get workers(): number {
    return this.active.length;
  }

  /** Workers starting for load, not serving yet. */
  get starting(): number {
    return this.growing.size;
  }

  /** Warm spares, loaded and idle. */
  get spareWorkers(): number {
    return this.spares.length;
  }

  /** Workers demoted now: their guests spin. */
  get demoted(): number {
    let n = 0;
    for (const s of this.active) if (s.demoted) n++;
    return n;
  }

  /** Requests taken back from behind a long-running guest so far. */
  get takenBack(): number {
    return this.tookBack;
  }

  /** Admits a request; resolves with the guest's response or the reason it has none. */
  run(request: GuestRequest, deadlineMs: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      const refuse = (error: VergeError) => resolve({ ok: false, error });
      if (this.closed) return refuse(new VergeError('SHUTTING_DOWN', 'the node is shutting down'));
      const job: Job = { request, deadlineMs, resolve, timer: undefined, slot: undefined, claim: undefined, startedAt: NaN, done: false, hostCalls: undefined, callees: undefined };
      const slot = this.leastLoaded();
      if (!slot && this.queue.length >= this.options.queueLimit) {
        return refuse(new VergeError('QUEUE_FULL', `all ${this.active.length} workers are busy and ${this.queue.length} requests are queued`));
      }
      this.inFlight++;
      // Both bounds are deadlineMs long: one timer, set again when the guest starts.
      job.timer = setTimeout(() => this.onTimer(job), deadlineMs);
      if (slot) {
        // It found no idle worker: the pool may start one for the next request.
        const foundBusy = slot.jobs.length > 0 || slot.settling;
        this.post(slot, job);
        if (foundBusy) this.growIfBusy();
        return;
      }
      this.queue.push(job);
      this.growIfBusy();
    });
  }

  /** A worker started a chained call inside the request it serves (its first job). */
  private onChainStart(slot: Slot, msg: Extract<FromWorker, { t: 'chain' }>): void {
    const caller = slot.jobs[0];
    if (!caller || caller.done || caller.request.id !== msg.root) return;
    const callee: Nested = { request: msg.request, caller, end: this.options.onChain?.(msg), done: false };
    this.nested.set(msg.request.id, callee);
    (caller.callees ??= []).push(callee);
  }

  private finishNested(callee: Nested, outcome: Outcome): void {
    if (callee.done) return;
    callee.done = true;
    this.nested.delete(callee.request.id);
    const list = callee.caller.callees!;
    list.splice(list.indexOf(callee), 1);
    this.options.onRequestEnd?.(callee.request.id);
    callee.end?.(outcome);
  }

  /** What the worker reports of a chained call it runs inside its caller. */
  private onNestedMessage(slot: Slot, callee: Nested, msg: Extract<FromWorker, { id: string }>): void {
    if (callee.caller.slot !== slot || callee.done) return;
    if (msg.t === 'log') {
      const { request } = callee;
      return this.options.onGuestLog?.(msg.id, request.component, msg.stream, msg.level, msg.line, request.version, request.trace);
    }
    if (msg.t === 'done') this.finishNested(callee, { ok: true, response: msg.response, spans: msg.spans });
    else if (msg.t === 'fail') this.finishNested(callee, { ok: false, error: new VergeError(msg.code, msg.message, { guest: guestDetail(msg) }), spans: msg.spans });
  }

  private onTimer(job: Job): void {
    if (Number.isNaN(job.startedAt)) this.waitedTooLong(job);
    else this.expire(job);
  }

  /** Waits until nothing is queued or running, or `ms` passes; then stops every worker. */
  async close(ms: number): Promise<void> {
    this.closed = true;
    clearInterval(this.shrinkTimer);
    clearInterval(this.spinWatch);
    const until = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const leftover = [...this.queue, ...this.active.flatMap((s) => s.jobs)];
    for (const s of this.active) clearTimeout(s.watch);
    for (const job of leftover) this.finish(job, { ok: false, error: new VergeError('SHUTTING_DOWN', 'the node shut down before the request finished') });
    const all = this.everyWorker;
    this.active.length = 0;
    this.spares.length = 0;
    this.growing.clear();
    this.queue.length = 0;
    await Promise.all(all.map((s) => ((s.retired = true), s.worker.terminate())));
  }

  /**
   * The active worker with the fewest posted jobs, if one has room. Idle workers come first, and
   * among them one that is not still settling its last request (making a component's next
   * instance, which takes milliseconds): a request posted there would wait for it.
   */
  private leastLoaded(): Slot | undefined {
    const now = performance.now();
    let best: Slot | undefined;
    for (const s of this.active) {
      if (!this.hasRoom(s, now)) continue;
      if (s.jobs.length === 0 && !s.settling) return s;
      if (!best || s.jobs.length < best.jobs.length) best = s;
    }
    return best;
  }

  /** Room for one more request: the pipeline is not full, and not behind a guest that runs long (a chain it runs included). */
  private hasRoom(slot: Slot, now: number): boolean {
    if (slot.demoted) return false;
    if (slot.jobs.length === 0) return true;
    return slot.jobs.length < PIPELINE_DEPTH && now - slot.jobs[0]!.startedAt < TAKE_BACK_MS;
  }

  private spawn(): Slot {
    const worker = spawnWorker();
    const slot: Slot = {
      worker,
      ready: Promise.resolve(),
      jobs: [],
      retired: false,
      settling: false,
      loads: new Map(),
      claims: new JobClaims(),
      watch: undefined,
      outbox: [],
      idleSince: performance.now(),
      tid: undefined,
      demoted: false,
      reniced: false,
      sample: undefined,
    };
    const initialized = new Promise<void>((resolve, reject) => {
      worker.once('message', (msg: FromWorker) => {
        if (msg.t !== 'ready') return reject(new Error(`worker said ${msg.t} before ready`));
        slot.tid = msg.tid;
        worker.off('error', reject);
        worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
        resolve();
      });
      worker.once('error', reject);
    });
    worker.on('error', (err) => this.onCrash(slot, err));
    worker.on('exit', (code) => this.onCrash(slot, new Error(`worker exited with code ${code}`)));
    const ends = createBridgeEnds();
    serveHostCalls(ends, this.options.hostCall);
    worker.once('exit', () => ends.mainPort.close());
    const init: ToWorker = { t: 'init', bridge: { port: ends.workerPort, signal: ends.signal }, claims: slot.claims.buffer };
    worker.postMessage(init, [ends.workerPort]);
    // The worker handles messages in order: these loads come before any run posted to it.
    const loads = [...this.versions].map(([version, modules]) => this.loadInto(slot, version, modules));
    slot.ready = initialized.then(() => Promise.all(loads)).then(() => undefined);
    slot.ready.catch(() => undefined);
    return slot;
  }

  private post(slot: Slot, job: Job): void {
    const claim = slot.claims.offer((cell) => slot.jobs.some((j) => j.claim!.cell === cell));
    slot.jobs.push(job);
    job.slot = slot;
    job.claim = claim;
    slot.outbox.push({ request: job.request, cell: claim.cell, tag: claim.tag, timeoutMs: job.deadlineMs });
    this.unsent.add(slot);
    // Alone in the pool (one request at a time): it goes now, not at the turn's end, and the worker
    // wakes while this thread finishes the turn (~1.5 µs off a request at c1). With others in
    // flight, what arrives this turn is gathered into one message per worker.
    if (this.inFlight === 1 && this.sending === undefined) this.send();
    else this.sending ??= setImmediate(() => this.send());
    if (slot.jobs.length === 1) this.startRunning(job);
    else this.watch(slot);
  }

  /**
   * The end of the turn: each worker gets what was posted to it in one message. A request taken
   * back meanwhile still goes; its claim, revoked, tells the worker to skip it.
   */
  private send(): void {
    this.sending = undefined;
    for (const slot of this.unsent) {
      const runs = slot.outbox;
      slot.outbox = [];
      if (slot.retired || runs.length === 0) continue;
      const msg: ToWorker = { t: 'run', runs };
      slot.worker.postMessage(msg);
    }
    this.unsent.clear();
  }

  /** The job is its worker's first: its guest runs now (or once the worker has read the message), and its deadline with it. */
  private startRunning(job: Job): void {
    job.startedAt = performance.now();
    if (job.done) return;
    job.timer!.refresh();
    if (!this.spinWatch && !this.closed) {
      this.spinWatch = setInterval(() => this.lookForSpinners(), DEMOTE_LOOK_MS);
      this.spinWatch.unref();
    }
  }

  /** Demotes the workers whose guests, running for DEMOTE_AFTER_MS, have since used DEMOTE_CPU_MS of CPU. */
  private lookForSpinners(): void {
    if (this.inFlight === 0) {
      clearInterval(this.spinWatch);
      this.spinWatch = undefined;
      return;
    }
    const now = performance.now();
    for (const slot of this.active) {
      const job = slot.jobs[0];
      if (!job || slot.demoted || slot.tid === undefined || !(now - job.startedAt >= DEMOTE_AFTER_MS)) continue;
      // The worker went on to a request posted behind it: this one ended, and its answer waits
      // for this thread (a busy main thread), so the CPU the worker uses now is not its own.
      const next = slot.jobs[1];
      if (next && slot.claims.claimed(next.claim!)) {
        slot.sample = undefined;
        continue;
      }
      const cpuMs = this.priority.cpuMs(slot.tid);
      if (cpuMs === undefined) continue;
      if (slot.sample?.job !== job) slot.sample = { job, cpuMs };
      else if (cpuMs - slot.sample.cpuMs >= DEMOTE_CPU_MS) this.demote(slot, job);
    }
  }

  private demote(slot: Slot, job: Job): void {
    slot.demoted = true;
    slot.sample = undefined;
    slot.reniced = this.priority.demote(slot.tid!);
    this.options.onDemoted?.(job.request);
    // Out of the pool's size: requests that wait, or the next that finds the others busy, get a
    // worker in its place. Not before: a lone long request on an idle node would churn a worker.
    if (this.queue.length > 0) this.growIfBusy();
  }

  /**
   * A demoted worker's requests ended: its priority back, it serves again, or becomes the spare (or
   * goes) if another took its place. True when it serves again.
   */
  private undemote(slot: Slot): boolean {
    slot.demoted = false;
    slot.sample = undefined;
    if (slot.reniced && !this.priority.restore(slot.tid!)) {
      this.replace(slot, 'priority');
      return false;
    }
    slot.reniced = false;
    if (this.serving <= this.options.size) return true;
    // A worker served in its place: it becomes the warm spare (none was made while it was demoted), or goes.
    this.active.splice(this.active.indexOf(slot), 1);
    if (this.spares.length < this.options.spares && this.active.length >= this.options.size) this.spares.push(slot);
    else this.replace(slot, 'surplus');
    return false;
  }

  /** While requests wait behind a worker's running guest: look again when that guest reaches TAKE_BACK_MS. */
  private watch(slot: Slot): void {
    if (slot.watch || slot.jobs.length < 2) return;
    const due = slot.jobs[0]!.startedAt + TAKE_BACK_MS - performance.now();
    slot.watch = setTimeout(() => {
      slot.watch = undefined;
      if (slot.retired || slot.jobs.length < 2) return;
      if (performance.now() - slot.jobs[0]!.startedAt < TAKE_BACK_MS) return this.watch(slot);
      this.takeBack(slot);
    }, Math.max(0, Math.ceil(due)));
  }

  /** Takes back the requests waiting behind a long-running guest, for other workers (first in the queue). */
  private takeBack(slot: Slot): void {
    const back: Job[] = [];
    for (const job of slot.jobs.slice(1)) if (this.revoke(job)) back.push(job);
    if (back.length === 0) return;
    this.tookBack += back.length;
    this.queue.unshift(...back);
    for (const s of this.active) this.refill(s);
    this.growIfBusy();
  }

  /** Takes a posted job out of its worker, unless the worker has started it. */
  private revoke(job: Job): boolean {
    const slot = job.slot!;
    if (!slot.claims.revoke(job.claim!)) return false;
    slot.jobs.splice(slot.jobs.indexOf(job), 1);
    job.slot = undefined;
    job.claim = undefined;
    return true;
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    if (msg.t === 'ready') return;
    if (msg.t === 'loaded' || msg.t === 'load-failed') {
      const waiter = slot.loads.get(msg.version);
      slot.loads.delete(msg.version);
      if (msg.t === 'loaded') waiter?.resolve();
      else waiter?.reject(new Error(msg.message));
      return;
    }
    if (msg.t === 'settled') {
      slot.settling = false;
      return;
    }
    if (msg.t === 'breaker') return this.options.onBreaker?.(msg, slot.worker.threadId);
    if (msg.t === 'chain') return this.onChainStart(slot, msg);
    const callee = this.nested.get(msg.id);
    if (callee) return this.onNestedMessage(slot, callee, msg);
    const job = slot.jobs[0];
    if (!job || job.request.id !== msg.id) return;
    if (msg.t === 'log') {
      if (!job.done) this.options.onGuestLog?.(msg.id, job.request.component, msg.stream, msg.level, msg.line, job.request.version, job.request.trace);
      return;
    }
    if (msg.t === 'host-calls') {
      (job.hostCalls ??= []).push(msg.calls);
      return;
    }
    slot.jobs.shift();
    slot.settling = msg.settling === true;
    if (slot.jobs.length === 0) slot.idleSince = performance.now();
    // The answer is its measures (their fields are its own), unless batches of host calls came ahead of it.
    const measures = msg.claimedAt === undefined ? undefined : job.hostCalls ? withEarlierHostCalls(msg, job.hostCalls) : msg;
    if (msg.t === 'done') this.finish(job, { ok: true, response: msg.response, spans: msg.spans, measures });
    else this.finish(job, { ok: false, error: new VergeError(msg.code, msg.message, { guest: guestDetail(msg) }), spans: msg.spans, measures });
    // The worker went straight on to the next one posted.
    const next = slot.jobs[0];
    if (next) {
      this.startRunning(next);
      this.watch(slot);
    } else if (slot.demoted && !this.undemote(slot)) {
      return;
    }
    this.refill(slot);
  }

  /** Tops a worker's pipeline up from the admission queue. */
  private refill(slot: Slot): void {
    if (slot.retired) return;
    const now = performance.now();
    while (this.queue.length > 0 && this.hasRoom(slot, now)) this.post(slot, this.queue.shift()!);
  }

  /** Resolves a job once; later answers for it (a worker that ran it after it expired) are ignored. */
  private finish(job: Job, outcome: Outcome): void {
    if (job.done) return;
    job.done = true;
    clearTimeout(job.timer);
    this.inFlight--;
    // Its worker answered for its chained calls before its own answer; any still open ended with it.
    if (job.callees) for (const callee of [...job.callees]) this.finishNested(callee, { ok: false, error: callerEnded() });
    this.options.onRequestEnd?.(job.request.id);
    job.resolve(outcome);
  }

  /** Its guest ran past its deadline. */
  private expire(job: Job): void {
    const slot = job.slot!;
    this.finish(job, { ok: false, error: new VergeError('DEADLINE_EXCEEDED', `the guest did not answer within ${job.deadlineMs} ms; its worker was terminated`) });
    this.replace(slot, 'deadline');
  }

  /** No worker started it within its bound on waiting (every worker was busy for that long). */
  private waitedTooLong(job: Job): void {
    if (job.slot) {
      // The worker claimed it first: it is running now, so its deadline starts.
      if (!this.revoke(job)) return this.startRunning(job);
    } else {
      this.queue.splice(this.queue.indexOf(job), 1);
    }
    this.finish(job, {
      ok: false,
      error: new VergeError('QUEUE_TIMEOUT', `no worker was free to start the request within ${job.deadlineMs} ms (all ${this.active.length} workers were busy)`),
    });
  }

  private onCrash(slot: Slot, err: Error): void {
    if (slot.retired) return;
    const running = slot.jobs[0];
    if (running) this.finish(running, { ok: false, error: new VergeError('WORKER_CRASHED', `the worker running the request died: ${err.message}`) });
    this.replace(slot, 'crash');
  }

  /**
   * Retires a worker and, unless the pool is at its size without it, promotes a warm spare into
   * its place; a new spare warms up behind it. `surplus` and `priority` are a demoted worker's end
   * (no request of it is running), not a failure.
   */
  private replace(slot: Slot, reason: 'deadline' | 'crash' | 'surplus' | 'priority'): void {
    if (slot.retired) return;
    slot.retired = true;
    clearTimeout(slot.watch);
    void slot.worker.terminate();
    // Its replacement loads every version itself: a load waiting on this worker is not failed by its death.
    for (const waiter of slot.loads.values()) waiter.resolve();
    slot.loads.clear();
    // Jobs posted behind the one that ran go back to the front of the queue, unless the worker
    // had started one (the one before it ended just then): that one ends with the worker.
    const waiting: Job[] = [];
    for (const j of slot.jobs.filter((j) => !j.done)) {
      if (this.revoke(j)) waiting.push(j);
      else this.finish(j, { ok: false, error: new VergeError('WORKER_CRASHED', `the worker running the request was stopped (${reason === 'deadline' ? 'the request before it on that worker ran past its deadline' : 'it died'})`) });
    }
    slot.jobs.length = 0;
    this.queue.unshift(...waiting);

    this.growing.delete(slot);
    const spareIndex = this.spares.indexOf(slot);
    if (spareIndex !== -1) this.spares.splice(spareIndex, 1);
    const activeIndex = this.active.indexOf(slot);
    if (activeIndex !== -1) {
      this.active.splice(activeIndex, 1);
      if (reason === 'deadline' || reason === 'crash') this.options.onWorkerReplaced?.(reason, slot.worker.threadId);
      if (this.closed) return;
      // A spare that is still warming up can take work at once: its worker handles the load
      // message before any run message, so a request only waits for the rest of its start.
      // None is needed when a worker lent in place of this one (demoted) keeps the pool at its size.
      if (this.serving < this.options.size) {
        const next = this.spares.shift() ?? this.spawn();
        this.active.push(next);
        this.refill(next);
      }
    }
    this.fillSpares();
    // The other workers may have room for what came back to the queue.
    for (const s of this.active) this.refill(s);
    this.growIfBusy();
  }
}

/** The answer's measures with the host-call batches sent ahead of it, in one array. */
/** What the worker learned of a failing guest, when it learned anything. */
function guestDetail(msg: Extract<FromWorker, { t: 'fail' }>): GuestFailureDetail | undefined {
  if (msg.panic === undefined && msg.backtrace === undefined) return undefined;
  return { ...(msg.panic !== undefined ? { panic: msg.panic } : {}), ...(msg.backtrace ? { backtrace: msg.backtrace } : {}) };
}

function withEarlierHostCalls(measures: RunMeasures, earlier: Float64Array[]): RunMeasures {
  const parts = measures.hostCalls ? [...earlier, measures.hostCalls] : earlier;
  const all = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return { claimedAt: measures.claimedAt, instantiateMs: measures.instantiateMs, prepared: measures.prepared, memoryBytes: measures.memoryBytes, hostCalls: all };
}

function callerEnded(): VergeError {
  return new VergeError('DEADLINE_EXCEEDED', "the chained call's caller ended first (its deadline passed or its worker stopped)");
}
