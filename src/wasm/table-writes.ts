/**
 * Whether a core module's code can change a table after instantiation: `table.set`, `table.grow`,
 * `table.fill`, `table.copy` or `table.init` anywhere in a function body. A component reset
 * (sandbox/component/instance-reset.ts) need not compare a table that nothing can change; for a
 * ComponentizeJS engine that is a 7,785-entry function table per reset.
 *
 * Every instruction is decoded, since an opcode byte can be another instruction's immediate. The
 * engine's code section is ~10 MB and this runs on the first load of a component, so it is one
 * tight pass over the bytes: an opcode's immediates are looked up in a table and skipped without
 * reading their values, and no object is made per instruction. An opcode it does not know, or a
 * body whose instructions do not end exactly at its end, makes the answer undefined ("it may").
 * The same pass answers whether any body drops a data or element segment (bodiesDropSegments),
 * and scanBodies has both answers from one pass.
 */
import { readLayout } from './binary.js';

/** `true` when some body holds an instruction that changes a table, `undefined` when the code could not be read. */
export type BodyVerdict = boolean | undefined;

const SECTION_CODE = 10;

/** What follows an opcode byte. */
const enum Imm {
  Unknown,
  None,
  /** One LEB128 (an index, or a signed constant: only continuation bits matter to skip it). */
  Leb,
  TwoLeb,
  Memarg,
  Block,
  BrTable,
  SelectTyped,
  Bytes4,
  Bytes8,
  /** table.set. */
  ChangesTable,
  PrefixFc,
  PrefixFd,
  PrefixFe,
}

const IMMEDIATES = (() => {
  const t = new Uint8Array(256); // Imm.Unknown
  const set = (imm: Imm, ...ops: number[]) => {
    for (const op of ops) t[op] = imm;
  };
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  set(Imm.None, 0x00, 0x01, 0x05, 0x0b, 0x0f, 0x19, 0x1a, 0x1b, 0xd1, ...range(0x45, 0xc4));
  // block, loop, if, try
  set(Imm.Block, 0x02, 0x03, 0x04, 0x06);
  // catch, throw, rethrow, br, br_if, call, return_call, call_ref, return_call_ref, delegate,
  // local.get/set/tee, global.get/set, table.get, memory.size/grow, i32/i64.const, ref.null, ref.func
  set(Imm.Leb, 0x07, 0x08, 0x09, 0x0c, 0x0d, 0x10, 0x12, 0x14, 0x15, 0x18, ...range(0x20, 0x25), 0x3f, 0x40, 0x41, 0x42, 0xd0, 0xd2);
  set(Imm.TwoLeb, 0x11, 0x13); // call_indirect, return_call_indirect
  set(Imm.Memarg, ...range(0x28, 0x3e));
  set(Imm.BrTable, 0x0e);
  set(Imm.SelectTyped, 0x1c);
  set(Imm.Bytes4, 0x43);
  set(Imm.Bytes8, 0x44);
  set(Imm.ChangesTable, 0x26);
  set(Imm.PrefixFc, 0xfc);
  set(Imm.PrefixFd, 0xfd);
  set(Imm.PrefixFe, 0xfe);
  return t;
})();

/** The value of the unsigned LEB128 at `p` (callers skip it with `lebEnd`). */
function u32At(b: Uint8Array, p: number): number {
  let x = b[p]!;
  if (x < 0x80) return x;
  let v = x & 0x7f;
  let scale = 0x80;
  do {
    x = b[++p]!;
    v += (x & 0x7f) * scale;
    scale *= 0x80;
  } while (x & 0x80 && scale < 2 ** 35);
  return v;
}

/** The position after the LEB128 at `p`; past the end of `b` reads as 0 and stops it. */
function lebEnd(b: Uint8Array, p: number): number {
  while (b[p++]! & 0x80);
  return p;
}

/** After a memarg: its alignment (bit 6 set: a memory index follows, multi-memory) and offset. */
function memargEnd(b: Uint8Array, p: number): number {
  const align = u32At(b, p);
  p = lebEnd(b, p);
  if (align & 0x40) p = lebEnd(b, p);
  return lebEnd(b, p);
}

/** What a scan looks for, and finds: bits. */
const TABLES = 1; // table.set, table.grow, table.fill, table.copy, table.init
const DROPS = 2; // data.drop, elem.drop: after one, the segment is gone for the rest of the instance's life
const UNREADABLE = 4; // a body this reader cannot decode: what was not found yet may be there

/** Whether any function body of the module changes a table; see the file comment. */
export function bodiesChangeTables(bytes: Uint8Array): BodyVerdict {
  return verdict(scanModule(bytes, TABLES), TABLES);
}

/**
 * Whether any function body drops a data or element segment. An instance that served a request
 * and was then put back (memory, globals, tables) is the same as a fresh one only if no segment
 * it could still use was dropped; the resets (sandbox/wagi/runner.ts, and a component's) ask this.
 */
export function bodiesDropSegments(bytes: Uint8Array): BodyVerdict {
  return verdict(scanModule(bytes, DROPS), DROPS);
}

/** Both answers, from one pass over the code (a component's engine is ~10 MB of it). */
export interface BodyFacts {
  changesTables: BodyVerdict;
  dropsSegments: BodyVerdict;
}

export function scanBodies(bytes: Uint8Array): BodyFacts {
  const found = scanModule(bytes, TABLES | DROPS);
  return { changesTables: verdict(found, TABLES), dropsSegments: verdict(found, DROPS) };
}

function verdict(found: number, what: number): BodyVerdict {
  return found & what ? true : found & UNREADABLE ? undefined : false;
}

function scanModule(bytes: Uint8Array, want: number): number {
  const code = readLayout(bytes).sections.find((s) => s.id === SECTION_CODE);
  return code ? scanCode(bytes, code.start, code.end, want) : 0;
}

/** What the bodies hold of `want` (bits), stopping once all of it was found or a body could not be read. */
function scanCode(b: Uint8Array, start: number, end: number, want: number): number {
  let p = start;
  const count = u32At(b, p);
  p = lebEnd(b, p);
  let found = 0;
  for (let f = 0; f < count; f++) {
    const size = u32At(b, p);
    p = lebEnd(b, p);
    const bodyEnd = p + size;
    if (bodyEnd > end) return found | UNREADABLE;
    const locals = u32At(b, p);
    p = lebEnd(b, p);
    for (let i = 0; i < locals; i++) {
      p = lebEnd(b, p);
      const t = b[p++];
      if (t === 0x63 || t === 0x64) p = lebEnd(b, p); // (ref null? heaptype)
    }
    found |= scanBody(b, p, bodyEnd, want, found);
    if (found & UNREADABLE || (found & want) === want) return found;
    p = bodyEnd;
  }
  return p === end ? found : found | UNREADABLE;
}

function scanBody(b: Uint8Array, p: number, end: number, want: number, found: number): number {
  while (p < end) {
    switch (IMMEDIATES[b[p++]!] as Imm) {
      case Imm.None:
        break;
      case Imm.Leb:
        p = lebEnd(b, p);
        break;
      case Imm.Memarg:
        p = memargEnd(b, p);
        break;
      case Imm.TwoLeb:
        p = lebEnd(b, lebEnd(b, p));
        break;
      case Imm.Block: {
        const t = b[p]!;
        if (t === 0x63 || t === 0x64) return found | UNREADABLE; // a typed reference result: not decoded here
        // 0x40 (empty) or a one-byte value type, else a type index (s33)
        p = t === 0x40 || (t >= 0x6f && t <= 0x7f) ? p + 1 : lebEnd(b, p);
        break;
      }
      case Imm.BrTable: {
        const n = u32At(b, p);
        p = lebEnd(b, p);
        for (let i = 0; i <= n; i++) p = lebEnd(b, p);
        break;
      }
      case Imm.SelectTyped: {
        const n = u32At(b, p);
        p = lebEnd(b, p);
        for (let i = 0; i < n; i++) {
          const t = b[p++];
          if (t === 0x63 || t === 0x64) return found | UNREADABLE;
        }
        break;
      }
      case Imm.Bytes4:
        p += 4;
        break;
      case Imm.Bytes8:
        p += 8;
        break;
      case Imm.ChangesTable:
        found |= TABLES;
        if ((found & want) === want) return found;
        p = lebEnd(b, p);
        break;
      case Imm.PrefixFc: {
        const sub = u32At(b, p);
        p = lebEnd(b, p);
        if (sub <= 7) break; // saturating truncations
        if (sub === 12 || sub === 14 || sub === 15 || sub === 17) found |= TABLES; // table.init, table.copy, table.grow, table.fill
        else if (sub === 9 || sub === 13) found |= DROPS; // data.drop, elem.drop
        if ((found & want) === want) return found;
        if (sub === 8 || sub === 10 || sub === 12 || sub === 14) p = lebEnd(b, lebEnd(b, p)); // memory.init, memory.copy, table.init, table.copy
        else if (sub === 15 || sub === 17) p = lebEnd(b, p); // table.grow, table.fill
        else if (sub === 9 || sub === 11 || sub === 13 || sub === 16) p = lebEnd(b, p); // data.drop, memory.fill, elem.drop, table.size
        else return found | UNREADABLE;
        break;
      }
      case Imm.PrefixFd: {
        const sub = u32At(b, p);
        p = lebEnd(b, p);
        if (sub <= 11 || sub === 92 || sub === 93) p = memargEnd(b, p); // loads, splats, store, load_zero
        else if (sub === 12 || sub === 13) p += 16; // v128.const, i8x16.shuffle
        else if (sub >= 21 && sub <= 34) p += 1; // lane extract / replace
        else if (sub >= 84 && sub <= 91) p = memargEnd(b, p) + 1; // load_lane / store_lane
        else if (sub > 0x113) return found | UNREADABLE; // past relaxed SIMD
        break;
      }
      case Imm.PrefixFe: {
        const sub = u32At(b, p);
        p = lebEnd(b, p);
        if (sub === 3) p += 1; // atomic.fence
        else if ((sub > 0x03 && sub < 0x10) || sub > 0x4e) return found | UNREADABLE;
        else p = memargEnd(b, p);
        break;
      }
      default:
        return found | UNREADABLE;
    }
  }
  // Instructions that run past the body's end were not read right: do not trust the rest.
  return p === end ? found : found | UNREADABLE;
}
