/**
 * Putting a used component instance back into the state it had right after instantiation, instead
 * of instantiating again. A JS engine component (ComponentizeJS: a 13 MB StarlingMonkey core
 * module plus three small shims) spends most of a fresh instance in `new WebAssembly.Instance`
 * (tables, data segments, import wrappers) and in the garbage it leaves; the guest's own state is
 * all in places the host can reach once they are exported:
 *
 * - linear memory (the sandbox supplies it): copied back from a snapshot taken after instantiation;
 *   a memory that grew cannot shrink, so such an instance is dropped instead;
 * - each core module's mutable globals and tables (wasm/state-exports.ts exports them at load):
 *   set back to their snapshot; a table that grew is dropped too;
 * - the glue's own state (jco's handle tables, resource maps, task bookkeeping, all in closures
 *   the host cannot reach): the glue's `instantiate` runs again, as for a fresh instance, but its
 *   `instantiateCore` hands back the kept core instances instead of new ones. Every function the
 *   glue gave a core instance as an import was wrapped, at the first instantiation, in a stub the
 *   rebinding points at the new glue's function; imports that are another kept instance's exports
 *   are the same objects both times, and any other import that differs (a new global or table the
 *   glue made) makes the rebinding fail, so the instance is dropped.
 *
 * So after a reset the core instances hold the bytes, globals and table entries they held after
 * instantiation, and the glue holds nothing from before: no handle, resource or task of the last
 * request. A component is reset only when every core module carries the `verge:state` section
 * (which the loader leaves off a module with a start function or a segment drop, whose reset would
 * differ from a new instance: wasm/state-exports.ts, exposeStateForReset), and only after one trial
 * reset at its first instantiation came back equal to the snapshot (`verify`): a glue that ran
 * guest code while instantiating would not.
 */
import { WASM_PAGE_BYTES } from '../../wasm/binary.js';
import { stateExportsOf } from '../../wasm/state-exports.js';
import { CoreState, filledPages, type FilledPages } from '../core-state.js';

type InstantiateCore = (module: WebAssembly.Module, imports: WebAssembly.Imports) => WebAssembly.Instance;
export type Glue = (getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, unknown>, instantiateCore: InstantiateCore) => Record<string, unknown>;

interface Slot {
  fn: (...args: unknown[]) => unknown;
}

interface KeptCore {
  module: WebAssembly.Module;
  instance: WebAssembly.Instance;
  /** What the glue passed, by module and name: what a rebinding is checked against. */
  given: Map<string, unknown>;
  /** The stub of each function import, by module and name. */
  slots: Map<string, Slot>;
  /** Its globals and changeable tables, read at the snapshot. */
  state: CoreState;
}

interface Snapshot {
  /** Runs of pages that held something after instantiation, copied. */
  filled: FilledPages;
  /** Runs of pages [from, to) that were zero. */
  zero: Array<{ from: number; to: number }>;
  byteLength: number;
}

const key = (module: string, name: string) => `${module}\u0000${name}`;

/** The difference a reset left, for `verify` and the tests: empty when the state is the snapshot's. */
export interface StateDifference {
  what: string;
}

export class InstanceReset {
  private readonly cores: KeptCore[] = [];
  /** Functions exported by cores instantiated so far: imports the glue passes on, the same objects on every rebinding. */
  private readonly coreExports = new Set<unknown>();
  private taken: Snapshot | undefined;

  private constructor(
    private readonly memory: WebAssembly.Memory,
    private readonly glue: Glue,
  ) {}

  /**
   * Whether a component's core modules can be reset: each carries the `verge:state` section, and
   * exactly one defines a memory (the one the sandbox supplies).
   */
  static possible(coreModules: Record<string, WebAssembly.Module>, coreMemories: Record<string, unknown>): boolean {
    return Object.keys(coreMemories).length === 1 && Object.values(coreModules).every((m) => stateExportsOf(m) !== undefined);
  }

  /**
   * Runs the glue's instantiation with every function import of every core instance behind a
   * stub; `instantiateCore` makes the real instances (the caller supplies memories). Returns the
   * glue's exports and the reset that can bring them back; `snapshot()` must follow before any call.
   */
  static record(
    glue: Glue,
    getCoreModule: (name: string) => WebAssembly.Module,
    imports: Record<string, unknown>,
    instantiateCore: InstantiateCore,
    suppliedMemory: () => WebAssembly.Memory | undefined,
  ): { exports: Record<string, unknown>; reset: InstanceReset } {
    const cores: KeptCore[] = [];
    const coreExports = new Set<unknown>();
    const stubbing: InstantiateCore = (module, given = {}) => {
      const slots = new Map<string, Slot>();
      const givenByKey = new Map<string, unknown>();
      const wrapped: WebAssembly.Imports = {};
      for (const [ns, entries] of Object.entries(given)) {
        const out: Record<string, WebAssembly.ImportValue> = {};
        for (const [name, value] of Object.entries(entries)) {
          givenByKey.set(key(ns, name), value);
          if (typeof value === 'function' && !coreExports.has(value)) {
            const slot: Slot = { fn: value as Slot['fn'] };
            slots.set(key(ns, name), slot);
            out[name] = (...args: unknown[]) => slot.fn(...args);
          } else {
            out[name] = value;
          }
        }
        wrapped[ns] = out;
      }
      const instance = instantiateCore(module, wrapped);
      for (const v of Object.values(instance.exports)) if (typeof v === 'function') coreExports.add(v);
      cores.push({ module, instance, given: givenByKey, slots, state: new CoreState(instance, stateExportsOf(module) ?? { globals: [], tables: [], fixed: [] }) });
      return instance;
    };
    const exports = glue(getCoreModule, imports, stubbing);
    const memory = suppliedMemory();
    if (!memory) throw new Error('the component has no memory supplied by the sandbox');
    const reset = new InstanceReset(memory, glue);
    reset.cores.push(...cores);
    for (const f of coreExports) reset.coreExports.add(f);
    return { exports, reset };
  }

  /** Takes the post-instantiation state: call right after `record`, before the instance serves. */
  snapshot(): void {
    const bytes = new Uint8Array(this.memory.buffer);
    const filled = filledPages(bytes);
    // The zero runs are the gaps between the filled ones.
    const zero: Snapshot['zero'] = [];
    let at = 0;
    for (const run of [...filled, { from: bytes.length, bytes: new Uint8Array(0) }]) {
      if (run.from > at) zero.push({ from: at, to: run.from });
      at = run.from + run.bytes.length;
    }
    for (const core of this.cores) core.state.take();
    this.taken = { filled, zero, byteLength: bytes.length };
  }

  /**
   * Puts memory, globals and tables back as the snapshot has them, then runs the glue again on the
   * kept cores. Returns the new glue's exports, or undefined when the instance cannot be reset (a
   * memory or table grew, or the glue gave a core something new): drop it then.
   */
  reset(getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, unknown>): Record<string, unknown> | undefined {
    if (!this.restore()) return undefined;
    return this.rebind(getCoreModule, imports);
  }

  private restore(): boolean {
    const s = this.taken!;
    const bytes = new Uint8Array(this.memory.buffer);
    if (bytes.length !== s.byteLength || !this.cores.every((c) => c.state.fits())) return false;
    for (const run of s.filled) bytes.set(run.bytes, run.from);
    for (const run of s.zero) bytes.fill(0, run.from, run.to);
    for (const core of this.cores) core.state.restore();
    return true;
  }

  private rebind(getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, unknown>): Record<string, unknown> | undefined {
    let next = 0;
    let mismatch = false;
    const rebinding: InstantiateCore = (module, given = {}) => {
      const core = this.cores[next++];
      if (!core || core.module !== module) {
        mismatch = true;
        throw new RebindMismatch();
      }
      for (const [ns, entries] of Object.entries(given)) {
        for (const [name, value] of Object.entries(entries)) {
          const k = key(ns, name);
          const slot = core.slots.get(k);
          if (slot && typeof value === 'function' && !this.coreExports.has(value)) slot.fn = value as Slot['fn'];
          else if (core.given.get(k) !== value) {
            mismatch = true;
            throw new RebindMismatch();
          }
        }
      }
      return core.instance;
    };
    try {
      const exports = this.glue(getCoreModule, imports, rebinding);
      return mismatch || next !== this.cores.length ? undefined : exports;
    } catch (e) {
      if (e instanceof RebindMismatch) return undefined;
      throw e;
    }
  }

  /** What differs from the snapshot now: memory bytes (by page), globals, table entries. */
  differences(): StateDifference[] {
    const s = this.taken!;
    const out: StateDifference[] = [];
    const bytes = new Uint8Array(this.memory.buffer);
    if (bytes.length !== s.byteLength) out.push({ what: `memory is ${bytes.length} bytes, was ${s.byteLength}` });
    const expected = new Uint8Array(s.byteLength);
    for (const run of s.filled) expected.set(run.bytes, run.from);
    for (let p = 0; p < Math.min(bytes.length, s.byteLength); p += WASM_PAGE_BYTES) {
      if (Buffer.compare(bytes.subarray(p, p + WASM_PAGE_BYTES), expected.subarray(p, p + WASM_PAGE_BYTES)) !== 0) out.push({ what: `memory page ${p / WASM_PAGE_BYTES}` });
    }
    this.cores.forEach((core, c) => {
      for (const what of core.state.differences(`core instance ${c}`)) out.push({ what });
    });
    return out;
  }

  /**
   * One trial reset with no request between: the state must come back equal to the snapshot. A
   * glue that runs guest code while instantiating (an `_initialize` it calls itself) would run it
   * again on the restored state; such a component is not reset.
   */
  verify(getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, unknown>): Record<string, unknown> | undefined {
    const exports = this.reset(getCoreModule, imports);
    if (!exports) return undefined;
    return this.differences().length === 0 ? exports : undefined;
  }
}

class RebindMismatch extends Error {}
