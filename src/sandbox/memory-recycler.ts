/**
 * Zeroed linear memories kept for the next instance of the same module, in one worker. A new
 * WebAssembly.Memory costs an allocation, page faults and, later, a GC; a recycled one costs a
 * `fill(0)` after the response is posted. WAGI modules and component core modules both take their
 * memories from here.
 *
 * What is kept is bounded twice: per module (`keep` memories on its shelf) and per worker (a byte
 * budget over every shelf; the memory kept longest ago is evicted first). A memory the guest grew
 * by more than RECYCLE_GROWTH_BYTES is not kept at all.
 *
 * A WAGI module's memory comes back with its instance attached (sandbox/wagi/runner.ts): once the
 * memory is zeroed the attachment puts the instance back as instantiation left it, and the next
 * request of that module takes both. Whatever drops the memory drops its instance with it.
 *
 * A memory that is not kept is only unreachable: its pages go back to the system when V8 collects
 * it, and an idle worker allocates nothing, so V8 never would — one large request would pin its
 * memory in every worker it ran on. So once enough bytes were dropped (`collectionDue`), the
 * worker calls `collectDropped()` after the response is posted.
 */
import vm from 'node:vm';
import { lazyRequire } from '../lazy-require.js';
import { RECYCLE_GROWTH_BYTES, WASM_PAGE_BYTES } from '../wasm/binary.js';

/**
 * Bytes of zeroed memories one worker keeps over all its modules. A ComponentizeJS component
 * starts at 9 MiB and keeps two: room for a few such components and many WAGI modules.
 */
export const RECYCLE_BUDGET_BYTES = 128 * 1024 * 1024;
/** Dropped bytes that make a collection worth its cost (a full GC of a worker heap: ~2–10 ms). */
export const COLLECT_AFTER_DROPPED_BYTES = RECYCLE_GROWTH_BYTES;

export interface MemoryLimits {
  initialPages: number;
  maximumPages: number;
}

export interface RecyclerOptions {
  budgetBytes?: number;
  /** Runs a full garbage collection; by default V8's own, exposed to this thread once. */
  collect?: () => void;
}

/** What may come back bound to a memory: an instance that used it, to be put back once the memory is zeroed. */
export interface Attachment {
  /** Called right after the memory was zeroed; false when it cannot be put back (then it is dropped and the memory kept alone). */
  restore(): boolean;
}

interface Kept {
  shelf: MemoryShelf<Attachment>;
  memory: WebAssembly.Memory;
  attached: Attachment | undefined;
  bytes: number;
}

export class MemoryRecycler {
  private readonly budgetBytes: number;
  private readonly collector: () => void;
  /** Oldest first: the eviction order. */
  private readonly kept: Kept[] = [];
  private keptBytes = 0;
  private droppedBytes = 0;

  constructor(options: RecyclerOptions = {}) {
    this.budgetBytes = options.budgetBytes ?? RECYCLE_BUDGET_BYTES;
    this.collector = options.collect ?? fullGc;
  }

  /** A shelf for one module's memories (each of them `limits`), holding at most `keep`. */
  shelf<A extends Attachment = never>(limits: MemoryLimits, keep: number): MemoryShelf<A> {
    return new MemoryShelf<A>(this, limits, keep);
  }

  get heldBytes(): number {
    return this.keptBytes;
  }

  /** Memories worth a collection were dropped since the last one. */
  get collectionDue(): boolean {
    return this.droppedBytes >= COLLECT_AFTER_DROPPED_BYTES;
  }

  /** A full collection, now: call it off the request's latency, once nothing references what was dropped. */
  collectDropped(): void {
    this.droppedBytes = 0;
    this.collector();
  }

  /** @internal (MemoryShelf) */
  takeFrom(shelf: MemoryShelf<Attachment>): Kept | undefined {
    for (let i = this.kept.length - 1; i >= 0; i--) {
      const k = this.kept[i]!;
      if (k.shelf !== shelf) continue;
      this.kept.splice(i, 1);
      this.keptBytes -= k.bytes;
      return k;
    }
    return undefined;
  }

  /** @internal (MemoryShelf) */
  keep(shelf: MemoryShelf<Attachment>, memory: WebAssembly.Memory, attached: Attachment | undefined): void {
    const bytes = memory.buffer.byteLength;
    if (bytes > shelf.limits.initialPages * WASM_PAGE_BYTES + RECYCLE_GROWTH_BYTES || bytes > this.budgetBytes) {
      this.droppedBytes += bytes;
      return;
    }
    if (this.count(shelf) >= shelf.keepAtMost) this.evict((k) => k.shelf === shelf);
    while (this.keptBytes + bytes > this.budgetBytes) this.evict(() => true);
    new Uint8Array(memory.buffer).fill(0);
    this.kept.push({ shelf, memory, attached: attached?.restore() ? attached : undefined, bytes });
    this.keptBytes += bytes;
  }

  /** The shelf's module was unloaded: what it kept is dropped (and counted towards the next collection). */
  forget(shelf: MemoryShelf<Attachment>): void {
    while (this.count(shelf) > 0) this.evict((k) => k.shelf === shelf);
  }

  private count(shelf: MemoryShelf<Attachment>): number {
    let n = 0;
    for (const k of this.kept) if (k.shelf === shelf) n++;
    return n;
  }

  private evict(which: (k: Kept) => boolean): void {
    const i = this.kept.findIndex(which);
    if (i === -1) return;
    const [k] = this.kept.splice(i, 1);
    this.keptBytes -= k!.bytes;
    this.droppedBytes += k!.bytes;
  }
}

/** One module's recycled memories, each with the instance `A` that used it when one came back with it. */
export class MemoryShelf<A extends Attachment = never> {
  constructor(
    private readonly recycler: MemoryRecycler,
    readonly limits: MemoryLimits,
    readonly keepAtMost: number,
  ) {}

  /** A zeroed memory: a recycled one, or a new one with the module's limits. */
  take(): WebAssembly.Memory {
    return this.takeAttached().memory;
  }

  /** A zeroed memory and the instance put back with it (none when it came back alone, or is new). */
  takeAttached(): { memory: WebAssembly.Memory; attached: A | undefined } {
    const k = this.recycler.takeFrom(this);
    if (k) return { memory: k.memory, attached: k.attached as A | undefined };
    return { memory: new WebAssembly.Memory({ initial: this.limits.initialPages, maximum: this.limits.maximumPages }), attached: undefined };
  }

  /** Once no running instance uses it: zeroed and kept (with `attached` put back), or dropped with it (too grown, or over a bound). */
  give(memory: WebAssembly.Memory, attached?: A): void {
    this.recycler.keep(this, memory, attached);
  }
}

let gc: (() => void) | undefined;

/** Loading node:v8 was ~2 ms of every worker's start, for a collection most workers never force. */
const v8 = lazyRequire<typeof import('node:v8')>('node:v8');

/**
 * V8's collector, made callable from this thread. Workers cannot take --expose-gc as an option,
 * so the flag is set just long enough for a new context to be created with `gc` in it. The flag
 * is process-wide: another worker doing the same may switch it off between our two steps (seen
 * when an unload made every worker collect at once), so a context without `gc` is tried again,
 * and a collection that could not be had is skipped — never a reason to fail a worker.
 */
function fullGc(): void {
  gc ??= exposeGc();
  gc?.();
}

function exposeGc(): (() => void) | undefined {
  for (let attempt = 0; attempt < 5; attempt++) {
    v8().setFlagsFromString('--expose-gc');
    try {
      const found = vm.runInNewContext('typeof gc === "function" ? gc : undefined') as (() => void) | undefined;
      if (found) return found;
    } finally {
      v8().setFlagsFromString('--no-expose-gc');
    }
  }
  return undefined;
}
