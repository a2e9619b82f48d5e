/**
 * The worker pool: admission queue, deadlines, worker replacement. One request per worker at a
 * time. A request whose deadline passes while it runs gets its worker terminated (the only way to
 * stop a guest that loops) and a warm spare, already holding every module, takes the worker's
 * place, so no request waits for a cold start.
 */
import { Worker } from 'node:worker_threads';
import { VergeError, type ErrorCode } from '../errors.js';
import type { FromWorker, GuestRequest, GuestResponse, ModuleSpec, ToWorker } from './protocol.js';

export interface PoolOptions {
  size: number;
  /** Warm workers kept loaded to replace killed ones. */
  spares: number;
  queueLimit: number;
  modules: ModuleSpec[];
  onGuestLog?: (id: string, component: string, line: string) => void;
  onWorkerReplaced?: (reason: 'deadline' | 'crash') => void;
}

export type Outcome = { ok: true; response: GuestResponse } | { ok: false; error: VergeError };

interface Job {
  request: GuestRequest;
  deadlineMs: number;
  resolve: (outcome: Outcome) => void;
  timer: NodeJS.Timeout | undefined;
  slot: Slot | undefined;
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  job: Job | undefined;
  retired: boolean;
}

const WORKER_URL = new URL('../guest/worker.js', import.meta.url);

export class WorkerPool {
  private readonly active: Slot[] = [];
  private readonly idle: Slot[] = [];
  private readonly spares: Slot[] = [];
  private readonly queue: Job[] = [];
  private queueHead = 0;
  private closed = false;
  private inFlight = 0;

  constructor(private readonly options: PoolOptions) {}

  async start(): Promise<void> {
    const slots: Slot[] = [];
    for (let i = 0; i < this.options.size; i++) slots.push(this.spawn());
    for (let i = 0; i < this.options.spares; i++) this.spares.push(this.spawn());
    await Promise.all([...slots, ...this.spares].map((s) => s.ready));
    for (const s of slots) {
      this.active.push(s);
      this.idle.push(s);
    }
  }

  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  get busy(): number {
    return this.inFlight;
  }

  get workers(): number {
    return this.active.length;
  }

  /** Admits a request; resolves with the guest's response or the reason it has none. */
  run(request: GuestRequest, deadlineMs: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve) => {
      if (this.closed) {
        resolve({ ok: false, error: new VergeError('SHUTTING_DOWN', 'the node is shutting down') });
        return;
      }
      const job: Job = { request, deadlineMs, resolve, timer: undefined, slot: undefined };
      const slot = this.idle.pop();
      if (!slot && this.queued >= this.options.queueLimit) {
        resolve({ ok: false, error: new VergeError('QUEUE_FULL', `all ${this.active.length} workers are busy and ${this.queued} requests are queued`) });
        return;
      }
      this.inFlight++;
      job.timer = setTimeout(() => this.expire(job), deadlineMs);
      if (slot) this.assign(slot, job);
      else this.queue.push(job);
    });
  }

  /** Waits until nothing is queued or running, or `ms` passes; then stops every worker. */
  async close(ms: number): Promise<void> {
    this.closed = true;
    const until = Date.now() + ms;
    while (this.inFlight > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    for (const job of this.queue.slice(this.queueHead)) this.finish(job, { ok: false, error: new VergeError('SHUTTING_DOWN', 'the node shut down before the request ran') });
    const all = [...this.active, ...this.spares];
    this.active.length = 0;
    this.spares.length = 0;
    this.idle.length = 0;
    await Promise.all(all.map((s) => ((s.retired = true), s.worker.terminate())));
  }

  private spawn(): Slot {
    const worker = new Worker(WORKER_URL, { stdout: false, stderr: false });
    const slot: Slot = { worker, ready: Promise.resolve(), job: undefined, retired: false };
    slot.ready = new Promise<void>((resolve, reject) => {
      const onMessage = (msg: FromWorker) => {
        if (msg.t === 'ready') {
          worker.off('error', reject);
          worker.on('message', (m: FromWorker) => this.onMessage(slot, m));
          resolve();
        }
      };
      worker.once('message', onMessage);
      worker.once('error', reject);
    });
    slot.ready.catch(() => undefined);
    worker.on('error', (err) => this.onCrash(slot, err));
    worker.on('exit', (code) => this.onCrash(slot, new Error(`worker exited with code ${code}`)));
    const load: ToWorker = { t: 'load', modules: this.options.modules };
    worker.postMessage(load);
    return slot;
  }

  private assign(slot: Slot, job: Job): void {
    slot.job = job;
    job.slot = slot;
    const msg: ToWorker = { t: 'run', request: job.request };
    slot.worker.postMessage(msg);
  }

  private onMessage(slot: Slot, msg: FromWorker): void {
    if (msg.t === 'log') {
      const job = slot.job;
      if (job && job.request.id === msg.id) this.options.onGuestLog?.(msg.id, job.request.component, msg.line);
      return;
    }
    const job = slot.job;
    if (msg.t === 'ready' || !job || job.request.id !== msg.id) return;
    slot.job = undefined;
    if (msg.t === 'done') this.finish(job, { ok: true, response: msg.response });
    else this.finish(job, { ok: false, error: new VergeError(msg.code, msg.message) });
    this.release(slot);
  }

  private release(slot: Slot): void {
    if (slot.retired) return;
    const next = this.nextQueued();
    if (next) this.assign(slot, next);
    else this.idle.push(slot);
  }

  private nextQueued(): Job | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const job = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined as unknown as Job;
    if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue.splice(0, this.queueHead);
      this.queueHead = 0;
    }
    return job;
  }

  private finish(job: Job, outcome: Outcome): void {
    clearTimeout(job.timer);
    job.timer = undefined;
    this.inFlight--;
    job.resolve(outcome);
  }

  private expire(job: Job): void {
    job.timer = undefined;
    const slot = job.slot;
    const error = new VergeError(
      'DEADLINE_EXCEEDED',
      `the guest did not answer within ${job.deadlineMs} ms${slot ? '; its worker was terminated' : ' (it was still queued)'}`,
    );
    if (!slot) {
      const i = this.queue.indexOf(job, this.queueHead);
      if (i !== -1) this.queue.splice(i, 1);
      this.inFlight--;
      job.resolve({ ok: false, error });
      return;
    }
    slot.job = undefined;
    this.inFlight--;
    job.resolve({ ok: false, error });
    this.replace(slot, 'deadline');
  }

  private onCrash(slot: Slot, err: Error): void {
    if (slot.retired) return;
    const job = slot.job;
    slot.job = undefined;
    if (job) {
      clearTimeout(job.timer);
      this.inFlight--;
      job.resolve({ ok: false, error: new VergeError('WORKER_CRASHED', `the worker running the request died: ${err.message}`) });
    }
    this.replace(slot, 'crash');
  }

  /** Retires a worker and promotes a warm spare into its place; a new spare warms up behind it. */
  private replace(slot: Slot, reason: 'deadline' | 'crash'): void {
    if (slot.retired) return;
    slot.retired = true;
    void slot.worker.terminate();
    const spareIndex = this.spares.indexOf(slot);
    if (spareIndex !== -1) this.spares.splice(spareIndex, 1);
    const activeIndex = this.active.indexOf(slot);
    if (activeIndex === -1) {
      if (!this.closed) this.addSpare();
      return;
    }
    this.active.splice(activeIndex, 1);
    const idleIndex = this.idle.indexOf(slot);
    if (idleIndex !== -1) this.idle.splice(idleIndex, 1);
    this.options.onWorkerReplaced?.(reason);
    if (this.closed) return;
    // A spare that is still warming up can take work at once: its worker handles the load
    // message before any run message, so the request only waits for the rest of its start.
    this.promote(this.spares.shift() ?? this.spawn());
    this.addSpare();
  }

  private addSpare(): void {
    const spare = this.spawn();
    this.spares.push(spare);
  }

  private promote(slot: Slot): void {
    this.active.push(slot);
    this.release(slot);
  }
}
