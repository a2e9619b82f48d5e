/**
 * The main thread's side of the export thread (export-thread.ts). A request's spans (one encoded
 * string: encoded-spans.ts) and guest log records (plain shapes) are collected and posted in
 * batches, every 50 ms or at 256 spans or records, so a request costs an array push. Per signal, what is posted and not yet taken plus what waits here is bounded by the
 * signal's queue size (OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BLRP_MAX_QUEUE_SIZE): past it an item is
 * dropped and counted (queue_full), so a stalled export thread never grows the node's memory.
 * An export that keeps failing is logged at most once a minute per signal.
 */
import { Worker } from 'node:worker_threads';
import type { Logger } from '../logging.js';
import { packageVersion, threadEntry } from '../../package-files.js';
import type { LogsConfig, TraceConfig } from './config.js';
import type { DropReason, LogShape } from './export.js';
import type { EncodedSpans } from './encoded-spans.js';
import type { ExportThreadData, FromExportThread, Signal, ToExportThread } from './export-thread.js';

/** How often the collected items go to the export thread, at most... */
const POST_EVERY_MS = 50;
/** ...or as soon as this many spans or log records are waiting. */
const POST_ITEMS = 256;
/** A collector that stays down is reported this often, not once per failed export. */
export const EXPORT_FAILURE_LOG_MS = 60_000;

export interface OtlpExportOptions {
  traces: TraceConfig | undefined;
  logs: LogsConfig | undefined;
  logger: Logger;
  /** Items that will never reach the collector, by signal and why. */
  onDropped?: (signal: Signal, count: number, reason: DropReason) => void;
}

/** One signal's way to the thread. */
export class ExportChannel<T> {
  private pending: T[] = [];
  /** What `pending` holds in the signal's unit (spans, log records), as `posted` counts. */
  private pendingUnits = 0;
  private posted = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: OtlpExport,
    private readonly signal: Signal,
    private readonly maxQueueSize: number,
    /** How many of the signal's unit an item holds: a request's encoded spans are one item. */
    private readonly units: (item: T) => number,
  ) {}

  /**
   * A guest's log record as it is written, or a sampled request's spans: kept or dropped whole (a
   * log line costs far more than this array).
   */
  push(item: T): void {
    const n = this.units(item);
    if (this.owner.dead) {
      this.owner.dropped(this.signal, n, 'export_failed');
      return;
    }
    if (this.maxQueueSize - this.posted - this.pendingUnits < n) {
      this.owner.dropped(this.signal, n, 'queue_full');
      return;
    }
    this.pending.push(item);
    this.pendingUnits += n;
    if (this.pendingUnits >= POST_ITEMS) this.post();
    else this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.pending.length === 0) return;
    this.timer = setTimeout(() => this.post(), POST_EVERY_MS);
    this.timer.unref();
  }

  post(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0 || this.owner.dead) return;
    const items = this.pending;
    const units = this.pendingUnits;
    this.pending = [];
    this.pendingUnits = 0;
    this.posted += units;
    if (!this.owner.send({ t: 'items', signal: this.signal, items } as ToExportThread)) {
      this.posted -= units;
      this.owner.dropped(this.signal, units, 'export_failed');
    }
  }

  taken(count: number): void {
    this.posted -= count;
  }

  /** Everything not yet taken by a thread that is gone. */
  lose(): number {
    const lost = this.posted + this.pendingUnits;
    clearTimeout(this.timer);
    this.pending = [];
    this.pendingUnits = 0;
    this.posted = 0;
    return lost;
  }
}

export class OtlpExport {
  readonly spans: ExportChannel<EncodedSpans> | undefined;
  readonly logs: ExportChannel<LogShape> | undefined;
  dead = false;
  private readonly worker: Worker;
  private readonly lastLogged = { spans: -Infinity, logs: -Infinity };
  private readonly droppedSinceLog = { spans: 0, logs: 0 };
  private flushed: (() => void) | undefined;
  private started: () => void = () => undefined;
  /**
   * Settles when the thread has loaded the SDK and its exporters (or is gone): the node waits for it
   * before it listens, so that loading never competes with the first requests for the CPU.
   */
  readonly ready = new Promise<void>((r) => (this.started = r));

  constructor(private readonly opts: OtlpExportOptions) {
    const data: ExportThreadData = { traces: opts.traces, logs: opts.logs, version: packageVersion() };
    this.spans = opts.traces && new ExportChannel(this, 'spans', opts.traces.batch.maxQueueSize, (s: EncodedSpans) => s.count);
    this.logs = opts.logs && new ExportChannel(this, 'logs', opts.logs.batch.maxQueueSize, () => 1);
    this.worker = new Worker(threadEntry('export-thread'), { workerData: data, stdout: false, stderr: false });
    // The node's close flushes and stops it; it never keeps the process alive on its own.
    this.worker.unref();
    this.worker.on('message', (m: FromExportThread) => {
      if (m.t === 'taken') (m.signal === 'spans' ? this.spans : this.logs)?.taken(m.count);
      else if (m.t === 'dropped') this.dropped(m.signal, m.count, m.reason);
      else if (m.t === 'failed') this.failed(m.signal, m.reason);
      else if (m.t === 'ready') this.started();
      else this.flushed?.();
    });
    this.worker.on('error', (err) => this.died(`the export thread failed: ${err.message}`));
    this.worker.on('exit', (code) => this.died(`the export thread exited with code ${code}`));
  }

  /** Posts what waits, has the thread export its queues for at most `ms`, then stops it. */
  async flush(ms: number): Promise<void> {
    this.spans?.post();
    this.logs?.post();
    if (this.dead) return;
    const done = new Promise<void>((r) => (this.flushed = r));
    this.send({ t: 'flush', ms });
    let timer: NodeJS.Timeout | undefined;
    // The thread bounds its own flush by `ms`; this bound is for a thread that cannot answer.
    await Promise.race([done, new Promise<void>((r) => (timer = setTimeout(r, ms + 100)))]);
    clearTimeout(timer);
    this.dead = true;
    await this.worker.terminate();
  }

  /** False when the message could not be sent (a value that cannot be cloned). */
  send(m: ToExportThread): boolean {
    try {
      this.worker.postMessage(m);
      return true;
    } catch (err) {
      if (m.t === 'items') this.failed(m.signal, `items could not be sent to the export thread: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  dropped(signal: Signal, count: number, reason: DropReason): void {
    this.droppedSinceLog[signal] += count;
    this.opts.onDropped?.(signal, count, reason);
  }

  private failed(signal: Signal, reason: string): void {
    const now = Date.now();
    if (now - this.lastLogged[signal] < EXPORT_FAILURE_LOG_MS) return;
    this.lastLogged[signal] = now;
    const url = (signal === 'spans' ? this.opts.traces : this.opts.logs)?.url;
    const what = signal === 'spans' ? 'trace' : 'log';
    this.opts.logger.warn(
      { endpoint: url && safeEndpoint(url), reason, [`dropped_${signal === 'spans' ? 'spans' : 'log_records'}`]: this.droppedSinceLog[signal] },
      `${what} export failed; ${signal === 'spans' ? 'spans' : 'log records'} are dropped until the collector answers (logged at most once a minute)`,
    );
    this.droppedSinceLog[signal] = 0;
  }

  private died(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.started();
    for (const [signal, channel] of [['spans', this.spans], ['logs', this.logs]] as const) {
      if (!channel) continue;
      this.failed(signal, reason);
      const lost = channel.lose();
      if (lost > 0) this.dropped(signal, lost, 'export_failed');
    }
    this.flushed?.();
  }
}

/** The endpoint without user info or query, which could hold a credential. */
export function safeEndpoint(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}
