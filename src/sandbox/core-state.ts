/**
 * A used core instance put back as it was right after instantiation, the parts both resets share:
 * a WAGI instance (wagi/runner.ts) and each core instance of a component
 * (component/instance-reset.ts).
 *
 * - CoreState: what an instance keeps besides linear memory, its mutable globals and the tables
 *   something could change (wasm/state-exports.ts exports them to the host at load), read at one
 *   moment and set back later;
 * - filledPages: the pages of a memory that hold something, copied (what instantiation wrote).
 */
import { WASM_PAGE_BYTES } from '../wasm/binary.js';
import type { StateExports, WasmGlobal, WasmTable } from '../wasm/state-exports.js';

export class CoreState {
  private readonly globals: WasmGlobal[];
  private readonly tables: WasmTable[];
  private values: unknown[] = [];
  private entries: unknown[][] = [];

  constructor(instance: WebAssembly.Instance, state: StateExports) {
    this.globals = state.globals.map((n) => instance.exports[n] as unknown as WasmGlobal);
    // A table nothing can change after instantiation (state-exports.ts) is not looked at again.
    this.tables = state.tables.filter((n) => !state.fixed.includes(n)).map((n) => instance.exports[n] as unknown as WasmTable);
  }

  /** Reads the values as they are now: what `restore` sets back. */
  take(): void {
    this.values = this.globals.map((g) => g.value);
    this.entries = this.tables.map((t) => {
      const out = new Array<unknown>(t.length);
      for (let i = 0; i < t.length; i++) out[i] = t.get(i);
      return out;
    });
  }

  /** Whether `restore` can set everything back: no table grew since `take`. */
  fits(): boolean {
    for (let t = 0; t < this.tables.length; t++) if (this.tables[t]!.length !== this.entries[t]!.length) return false;
    return true;
  }

  /** Sets every global and table entry back to what `take` read (check `fits` first). */
  restore(): void {
    for (let g = 0; g < this.globals.length; g++) this.globals[g]!.value = this.values[g];
    for (let t = 0; t < this.tables.length; t++) {
      const table = this.tables[t]!;
      const entries = this.entries[t]!;
      for (let i = 0; i < entries.length; i++) if (table.get(i) !== entries[i]) table.set(i, entries[i]);
    }
  }

  /** What differs from what `take` read, each named after `label`. */
  differences(label: string): string[] {
    const out: string[] = [];
    this.globals.forEach((g, i) => {
      if (!Object.is(g.value, this.values[i])) out.push(`${label} global ${i}: ${String(g.value)}, was ${String(this.values[i])}`);
    });
    this.tables.forEach((t, i) => {
      const was = this.entries[i]!;
      if (t.length !== was.length) out.push(`${label} table ${i} has ${t.length} entries, had ${was.length}`);
      for (let e = 0; e < Math.min(t.length, was.length); e++) if (t.get(e) !== was[e]) out.push(`${label} table ${i} entry ${e}`);
    });
    return out;
  }
}

/** Runs of whole pages of `bytes` that are not all zero, copied. */
export type FilledPages = Array<{ from: number; bytes: Uint8Array }>;

export function filledPages(bytes: Uint8Array): FilledPages {
  const zero = new Uint8Array(WASM_PAGE_BYTES);
  const out: FilledPages = [];
  let runFrom = -1;
  for (let p = 0; p <= bytes.length; p += WASM_PAGE_BYTES) {
    const filled = p < bytes.length && Buffer.compare(bytes.subarray(p, p + WASM_PAGE_BYTES), zero) !== 0;
    if (filled && runFrom < 0) runFrom = p;
    if (!filled && runFrom >= 0) {
      out.push({ from: runFrom, bytes: bytes.slice(runFrom, p) });
      runFrom = -1;
    }
  }
  return out;
}
