/**
 * Makes a core module's hidden mutable state reachable from the host, so that a used instance can
 * be put back exactly as it was right after instantiation (sandbox/component/instance-reset.ts).
 * Linear memory is already the host's (the sandbox rewrite supplies it); what a module keeps
 * besides it is its mutable globals (the stack pointer, an adapter's state pointer) and its
 * tables, which compilers rarely export. This rewrite adds an export for each one the module
 * defines, and a custom section listing them.
 *
 * The custom section is the promise: a module without it (one this rewrite refused, or one never
 * rewritten) is not reset, and its component gets a fresh instance per request as before.
 */
import { Reader, concatBytes, encodeU32, readLayout } from './binary.js';
import { bodiesChangeTables, scanBodies, type BodyFacts, type BodyVerdict } from './table-writes.js';

/** Name of the custom section that lists the added exports. */
export const STATE_SECTION = 'verge:state';
const EXPORT_PREFIX = 'verge:state/';

const SECTION_TABLE = 4;
const SECTION_START = 8;
const SECTION_GLOBAL = 6;
const SECTION_EXPORT = 7;
const SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];

const EXPORT_TABLE = 0x01;
const EXPORT_GLOBAL = 0x03;

/** What the custom section holds: the export names of the module's own mutable globals and tables. */
export interface StateExports {
  globals: string[];
  tables: string[];
  /**
   * Of `tables`, those nothing can change after instantiation: the module never exported them (so
   * no other module or host code holds them) and no function body has an instruction that
   * changes a table. A reset need not look at them.
   */
  fixed: string[];
}

/** What the JS API offers of an exported global and table (TypeScript's lib for Node declares neither). */
export interface WasmGlobal {
  value: unknown;
}
export interface WasmTable {
  readonly length: number;
  get(index: number): unknown;
  set(index: number, value: unknown): void;
}

export type ExposedState = { bytes: Uint8Array; state: StateExports } | { bytes: Uint8Array; refused: string };

/** Value types whose globals the JS API can read and write (v128 cannot be; typed references are not decoded here). */
const READABLE_VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x70, 0x6f]);

/**
 * Skips a constant expression (a global's initializer). Only the instructions a constant
 * expression may hold are known; anything else means the module uses a proposal this reader does
 * not decode, and it is refused rather than guessed at.
 */
function skipConstExpr(r: Reader): string | undefined {
  for (;;) {
    const op = r.byte();
    switch (op) {
      case 0x0b:
        return undefined;
      case 0x41:
      case 0x42:
      case 0x43:
      case 0x44:
        skipConst(r, op);
        break;
      case 0x23:
      case 0xd2:
        r.u32();
        break;
      case 0xd0:
        r.byte();
        break;
      case 0x6a:
      case 0x6b:
      case 0x6c:
      case 0x7c:
      case 0x7d:
      case 0x7e:
        break;
      case 0xfd: {
        const simd = r.u32();
        if (simd !== 0x0c) return `a global's initializer uses opcode 0xfd 0x${simd.toString(16)}`;
        r.take(16); // v128.const
        break;
      }
      default:
        return `a global's initializer uses opcode 0x${op.toString(16)}`;
    }
  }
}

function exportEntry(name: string, kind: number, index: number): number[] {
  const utf8 = new TextEncoder().encode(name);
  return [...encodeU32(utf8.length), ...utf8, kind, ...encodeU32(index)];
}

function section(id: number, payload: ArrayLike<number>): number[] {
  return [id, ...encodeU32(payload.length), ...Array.from(payload)];
}

/**
 * Adds an export for every mutable global and every table the module defines (imported ones
 * belong to whoever supplies them) and a `verge:state` custom section naming them. `changesTables`
 * reads the function bodies (bodiesChangeTables by default, ~0.1 s for a 13 MB engine, so the
 * loader keeps its answer in the transpile cache). Refuses, with
 * the reason, a module whose state it cannot name: a global of a type the JS API cannot restore,
 * or an initializer it does not decode.
 */
export function exposeState(bytes: Uint8Array, changesTables: (bytes: Uint8Array) => BodyVerdict = bodiesChangeTables): ExposedState {
  const layout = readLayout(bytes);
  const importedGlobals = layout.imports.filter((i) => i.kind === 'global').length;
  const importedTables = layout.imports.filter((i) => i.kind === 'table').length;
  const state: StateExports = { globals: [], tables: [], fixed: [] };
  const added: number[] = [];

  const tableSection = layout.sections.find((s) => s.id === SECTION_TABLE);
  if (tableSection) {
    const r = new Reader(bytes, tableSection.start, tableSection.end);
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const first = r.byte();
      // 0x40 0x00 starts a table with an initializer (function references): not decoded here.
      if (first !== 0x70 && first !== 0x6f) return { bytes, refused: `table ${importedTables + i} has element type 0x${first.toString(16)}` };
      r.limits();
      const name = `${EXPORT_PREFIX}table/${importedTables + i}`;
      state.tables.push(name);
      added.push(...exportEntry(name, EXPORT_TABLE, importedTables + i));
    }
  }

  const globalSection = layout.sections.find((s) => s.id === SECTION_GLOBAL);
  if (globalSection) {
    const r = new Reader(bytes, globalSection.start, globalSection.end);
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const type = r.byte();
      const mutable = r.byte();
      if (mutable > 1) return { bytes, refused: `global ${importedGlobals + i} has mutability flag 0x${mutable.toString(16)}` };
      const initRefusal = skipConstExpr(r);
      if (initRefusal) return { bytes, refused: initRefusal };
      if (mutable === 0) continue;
      if (!READABLE_VALTYPES.has(type)) return { bytes, refused: `mutable global ${importedGlobals + i} has type 0x${type.toString(16)}, which the host cannot read back` };
      const name = `${EXPORT_PREFIX}global/${importedGlobals + i}`;
      state.globals.push(name);
      added.push(...exportEntry(name, EXPORT_GLOBAL, importedGlobals + i));
    }
  }

  const exportedTables = new Set<number>();
  const addedCount = state.globals.length + state.tables.length;
  const exportSection = layout.sections.find((s) => s.id === SECTION_EXPORT);
  let exportPayload: number[];
  if (exportSection) {
    const r = new Reader(bytes, exportSection.start, exportSection.end);
    const count = r.u32();
    const entries = r.pos;
    for (let i = 0; i < count; i++) {
      if (r.name().startsWith(EXPORT_PREFIX)) return { bytes, refused: `the module already exports a name starting with ${EXPORT_PREFIX}` };
      const kind = r.byte();
      const index = r.u32();
      if (kind === EXPORT_TABLE) exportedTables.add(index);
    }
    exportPayload = [...encodeU32(count + addedCount), ...Array.from(bytes.subarray(entries, exportSection.end)), ...added];
  } else {
    exportPayload = [...encodeU32(addedCount), ...added];
  }

  if (state.tables.length > 0 && changesTables(bytes) === false) {
    state.fixed = state.tables.filter((name) => !exportedTables.has(Number(name.slice(name.lastIndexOf('/') + 1))));
  }
  const custom = new TextEncoder().encode(JSON.stringify(state));
  const customName = new TextEncoder().encode(STATE_SECTION);
  const parts: Array<ArrayLike<number>> = [bytes.subarray(0, 8)];
  const exportRank = SECTION_ORDER.indexOf(SECTION_EXPORT);
  let written = false;
  for (const s of layout.sections) {
    const rank = SECTION_ORDER.indexOf(s.id);
    // A known section after exports in the spec's order: the export section goes before it.
    if (!written && s.id !== 0 && rank > exportRank) {
      parts.push(section(SECTION_EXPORT, exportPayload));
      written = true;
    }
    if (s.id === SECTION_EXPORT) continue;
    parts.push(Uint8Array.from([s.id, ...encodeU32(s.end - s.start)]), bytes.subarray(s.start, s.end));
  }
  if (!written) parts.push(section(SECTION_EXPORT, exportPayload));
  parts.push(section(0, [...encodeU32(customName.length), ...customName, ...custom]));

  return { bytes: concatBytes(parts), state };
}

/**
 * exposeState for a module whose instance is put back after a request instead of made again: a
 * WAGI module's (sandbox/wagi/runner.ts) and a component's core modules (sandbox/component/
 * instance-reset.ts). Put back, an instance holds what a fresh one would only if all it keeps
 * besides memory, globals and tables is as instantiation left it, so a module is refused (and its
 * requests get fresh instances) when
 * - it has a start function: a fresh instance runs it, with whatever host calls it makes (a random
 *   seed, the time), and a put-back one would not;
 * - a function body drops a data or element segment (or could: a body this reader cannot decode):
 *   a fresh instance has every segment instantiation left it.
 * `facts` reads the function bodies once for both questions (the component loader keeps its answer
 * in the transpile cache).
 */
export function exposeStateForReset(bytes: Uint8Array, facts: (bytes: Uint8Array) => BodyFacts = scanBodies): ExposedState {
  if (readLayout(bytes).sections.some((s) => s.id === SECTION_START)) return { bytes, refused: 'the module has a start function' };
  const code = facts(bytes);
  const drops = code.dropsSegments;
  if (drops !== false) return { bytes, refused: drops ? 'a function drops a data or element segment' : 'a function body could not be read' };
  return exposeState(bytes, () => code.changesTables);
}

/** The exports a compiled module's `verge:state` section names, or undefined when it has none. */
export function stateExportsOf(module: WebAssembly.Module): StateExports | undefined {
  const sections = WebAssembly.Module.customSections(module, STATE_SECTION);
  if (sections.length !== 1) return undefined;
  return JSON.parse(new TextDecoder().decode(sections[0])) as StateExports;
}

/** Signed LEB128: the continuation bits are all that matter to skip it. */
function skipSigned(r: Reader): void {
  while (r.byte() & 0x80);
}

/** The immediate of i32.const, i64.const, f32.const or f64.const. */
function skipConst(r: Reader, op: number): void {
  if (op === 0x43) r.take(4);
  else if (op === 0x44) r.take(8);
  else skipSigned(r);
}
