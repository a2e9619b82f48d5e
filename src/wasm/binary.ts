/**
 * Just enough of the WebAssembly binary format to enforce Verge's memory rules before a module is
 * compiled: read the import and memory sections, and rewrite the module's own memory into an import
 * whose maximum is the component's cap. Making the memory an import is what lets a worker hand each
 * fresh instance a recycled, zeroed memory instead of allocating a new one per request.
 */
import { VergeError } from '../errors.js';

export const WASM_PAGE_BYTES = 65536;
/** A recycled memory the guest grew by more than this over its initial size is dropped instead (workers keep zeroed memories for the next instance). */
export const RECYCLE_GROWTH_BYTES = 16 * 1024 * 1024;
/** The import the rewritten module takes its memory from; a name no toolchain emits. */
export const SANDBOX_MEMORY_IMPORT = { module: 'verge:sandbox', name: 'memory' } as const;

const MAGIC = [0x00, 0x61, 0x73, 0x6d];
const SECTION_CUSTOM = 0;
const SECTION_IMPORT = 2;
/** Non-custom core sections in the order a module must have them: tag (13) after memory, data count (12) before code. */
const SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11];
const SECTION_MEMORY = 5;
const COMPONENT_SECTION_IMPORT = 10;
const COMPONENT_SECTION_EXPORT = 11;
/** The core sort byte that must follow a module import's kind byte. */
const CORE_SORT_MODULE = 0x11;
/** Primitive value types are one byte each: bool..string (0x7f..0x73) and error-context (0x64). */
const isPrimitiveValType = (b: number) => (b >= 0x73 && b <= 0x7f) || b === 0x64;

export interface MemoryLimits {
  initialPages: number;
  maximumPages: number | undefined;
}

export interface ImportEntry {
  module: string;
  name: string;
  kind: 'function' | 'table' | 'memory' | 'global' | 'tag';
}

interface Section {
  id: number;
  /** Offsets of the section's payload in the module. */
  start: number;
  end: number;
}

export interface ModuleLayout {
  sections: Section[];
  imports: ImportEntry[];
  importedMemories: number;
  memories: Array<MemoryLimits & { shared: boolean; memory64: boolean }>;
}

/**
 * Reads the binary format's integers and names between `start` and `end`. `fail` makes the error
 * for malformed input: MODULE_INVALID by default; the signature reader (src/signing) passes its own.
 */
export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
    readonly fail: (detail: string) => Error = malformed,
  ) {
    this.pos = start;
  }

  byte(): number {
    if (this.pos >= this.end) throw this.fail('unexpected end of section');
    return this.bytes[this.pos++]!;
  }

  /** The next `length` bytes, as a view. */
  take(length: number): Uint8Array {
    if (length > this.end - this.pos) throw this.fail(`${length} bytes run past the end`);
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw this.fail('LEB128 integer too long');
    }
    if (result > 0xffffffff) throw this.fail('LEB128 integer out of range');
    return result;
  }

  /** memory64 limits are u64; only their size matters to reject them, so read as a number. */
  u64(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw this.fail('LEB128 integer too long');
    }
  }

  /** A component value type: one primitive byte, or a type index as a non-negative s33. */
  valType(): void {
    const first = this.bytes[this.pos];
    if (first !== undefined && this.pos < this.end && isPrimitiveValType(first)) {
      this.pos++;
      return;
    }
    let result = 0;
    let shift = 0;
    let b: number;
    do {
      if (shift >= 35) throw this.fail('LEB128 integer too long');
      b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    // The sign bit of the last byte: a negative s33 that is not a primitive is no value type.
    if (b & 0x40) throw this.fail(`unknown value type 0x${(first ?? 0).toString(16)}`);
    if (result > 0xffffffff) throw this.fail('a type index is out of range');
  }

  name(): string {
    const len = this.u32();
    if (this.pos + len > this.end) throw this.fail('name runs past the section');
    let s: string;
    try {
      s = new TextDecoder('utf-8', { fatal: true }).decode(this.bytes.subarray(this.pos, this.pos + len));
    } catch {
      throw this.fail('a name is not valid UTF-8');
    }
    this.pos += len;
    return s;
  }

  limits(): MemoryLimits & { shared: boolean; memory64: boolean } {
    const flags = this.byte();
    if (flags > 0x07) throw this.fail(`unknown limits flags 0x${flags.toString(16)}`);
    const memory64 = (flags & 0x04) !== 0;
    const read = () => (memory64 ? this.u64() : this.u32());
    const initialPages = read();
    const maximumPages = flags & 0x01 ? read() : undefined;
    return { initialPages, maximumPages, shared: (flags & 0x02) !== 0, memory64 };
  }
}

function malformed(detail: string): VergeError {
  return new VergeError('MODULE_INVALID', `not a valid WebAssembly module: ${detail}`);
}

export function isCoreModule(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && MAGIC.every((b, i) => bytes[i] === b) && bytes[4] === 1 && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0;
}

/** A component-model binary: the magic, then version 0x0d and layer 1 (core modules are version 1, layer 0). */
export function isComponentBinary(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && MAGIC.every((b, i) => bytes[i] === b) && bytes[6] === 1 && bytes[7] === 0 && bytes[4] !== 1;
}

/** What a component import is: the `sort` byte of its extern descriptor. */
export type ComponentImportKind = 'module' | 'func' | 'value' | 'type' | 'instance' | 'component';

export interface ComponentImport {
  /** The name as written, e.g. "wasi:http/types@0.2.10" (a leading form byte is not part of it). */
  name: string;
  kind: ComponentImportKind;
}

/**
 * The imports of a component's top level (what a host must supply). Reads only the outer import
 * sections; nested components and modules are the component's own business.
 *
 * A name is a form byte then a string. 0x00 is today's form; 0x01 marked an interface name
 * (`ns:pkg/iface`) in encoders before September 2024 (cargo-component, componentize-dotnet,
 * wasm-tools < 1.217), and wasmparser — what wasmtime and jco read components with — still
 * accepts it as the same plain string. Every other form byte is refused, as wasmparser does.
 */
export function componentImports(bytes: Uint8Array): ComponentImport[] {
  if (!isComponentBinary(bytes)) throw malformed('not a component');
  const imports: ComponentImport[] = [];
  forEachSection(bytes, 8, bytes.length, (id, r) => {
    if (id !== COMPONENT_SECTION_IMPORT) return;
    const count = r.u32();
    for (let i = 0; i < count; i++) imports.push(readComponentImport(r, i));
    if (r.pos !== r.end) throw malformed(`the import section has ${r.end - r.pos} bytes after its ${count} imports`);
  });
  return imports;
}

/** The names of {@link componentImports}, such as "wasi:http/types@0.2.10". */
export function componentImportNames(bytes: Uint8Array): string[] {
  return componentImports(bytes).map((i) => i.name);
}

function readComponentImport(r: Reader, index: number): ComponentImport {
  const form = r.byte();
  if (form !== 0x00 && form !== 0x01) throw malformed(`import ${index} has an unknown name form 0x${hex(form)} (expected 0x00, or 0x01 from older encoders)`);
  const name = r.name();
  return { name, kind: readExternDesc(r, `import ${name}`) };
}

/** An extern descriptor (what an import or an ascribed export is); `what` names it in errors. */
function readExternDesc(r: Reader, what: string): ComponentImportKind {
  const kindByte = r.byte();
  switch (kindByte) {
    case 0x00: {
      const sort = r.byte();
      if (sort !== CORE_SORT_MODULE) throw malformed(`${what} is a core item of sort 0x${hex(sort)}; a component can import only core modules (0x11)`);
      r.u32();
      return 'module';
    }
    case 0x01:
      r.u32();
      return 'func';
    case 0x02:
      r.valType();
      return 'value';
    case 0x03: {
      const bound = r.byte();
      if (bound === 0x00) r.u32();
      else if (bound !== 0x01) throw malformed(`${what} has an unknown type bound 0x${hex(bound)}`);
      return 'type';
    }
    case 0x04:
      r.u32();
      return 'component';
    case 0x05:
      r.u32();
      return 'instance';
    default:
      throw malformed(`${what} has an unknown kind 0x${hex(kindByte)}`);
  }
}

/** The names a component's top level exports, such as "wasi:http/incoming-handler@0.2.10". */
export function componentExportNames(bytes: Uint8Array): string[] {
  if (!isComponentBinary(bytes)) throw malformed('not a component');
  const names: string[] = [];
  forEachSection(bytes, 8, bytes.length, (id, r) => {
    if (id !== COMPONENT_SECTION_EXPORT) return;
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const form = r.byte();
      if (form !== 0x00 && form !== 0x01) throw malformed(`export ${i} has an unknown name form 0x${hex(form)}`);
      const name = r.name();
      // sortidx: a sort (0x00 and a core sort byte for core items), then an index.
      if (r.byte() === 0x00) r.byte();
      r.u32();
      const ascribed = r.byte();
      if (ascribed === 0x01) readExternDesc(r, `export ${name}`);
      else if (ascribed !== 0x00) throw malformed(`export ${name} has an unknown type ascription 0x${hex(ascribed)}`);
      names.push(name);
    }
  });
  return names;
}

export function forEachSection(bytes: Uint8Array, start: number, end: number, visit: (id: number, r: Reader) => void): void {
  const top = new Reader(bytes, start, end);
  while (top.pos < end) {
    const id = top.byte();
    const size = top.u32();
    const sectionEnd = top.pos + size;
    if (sectionEnd > end) throw malformed(`section ${id} runs past the end of the component`);
    visit(id, new Reader(bytes, top.pos, sectionEnd));
    top.pos = sectionEnd;
  }
}

const hex = (b: number) => b.toString(16).padStart(2, '0');

export function readLayout(bytes: Uint8Array): ModuleLayout {
  if (!MAGIC.every((b, i) => bytes[i] === b)) throw malformed('missing the \\0asm magic number');
  if (bytes.length < 8) throw malformed(`the header is ${bytes.length} bytes; a module starts with 8 (the magic number and the version)`);
  if (!isCoreModule(bytes)) {
    throw new VergeError('MODULE_INVALID', `unknown WebAssembly binary version ${bytes[4]}.${bytes[5]} layer ${bytes[6]}.${bytes[7]}: expected a core module (a wasm32-wasi command) or a component`);
  }
  const sections: Section[] = [];
  let lastRank = -1;
  const top = new Reader(bytes, 8);
  while (top.pos < bytes.length) {
    const id = top.byte();
    const size = top.u32();
    const start = top.pos;
    const end = start + size;
    if (end > bytes.length) throw malformed(`section ${id} runs past the end of the module`);
    // The rewrite places the import section by this order, so a repeated or misplaced section
    // would have it written twice (or once per repeat).
    if (id !== SECTION_CUSTOM) {
      const rank = SECTION_ORDER.indexOf(id);
      if (rank < 0) throw malformed(`unknown section id ${id}`);
      if (sections.some((s) => s.id === id)) throw malformed(`section ${id} appears twice; each section but custom ones appears at most once`);
      if (rank < lastRank) throw malformed(`section ${id} comes after section ${SECTION_ORDER[lastRank]}; sections must be in the order the WebAssembly spec gives`);
      lastRank = rank;
    }
    sections.push({ id, start, end });
    top.pos = end;
  }

  const imports: ImportEntry[] = [];
  let importedMemories = 0;
  const importSection = sections.find((s) => s.id === SECTION_IMPORT);
  if (importSection) {
    const r = new Reader(bytes, importSection.start, importSection.end);
    const count = r.u32();
    for (let i = 0; i < count; i++) {
      const module = r.name();
      const name = r.name();
      const kind = r.byte();
      switch (kind) {
        case 0x00:
          r.u32();
          imports.push({ module, name, kind: 'function' });
          break;
        case 0x01:
          r.byte();
          r.limits();
          imports.push({ module, name, kind: 'table' });
          break;
        case 0x02:
          r.limits();
          importedMemories++;
          imports.push({ module, name, kind: 'memory' });
          break;
        case 0x03:
          r.byte();
          r.byte();
          imports.push({ module, name, kind: 'global' });
          break;
        case 0x04:
          r.byte();
          r.u32();
          imports.push({ module, name, kind: 'tag' });
          break;
        default:
          throw malformed(`unknown import kind 0x${kind.toString(16)} for ${module}.${name}`);
      }
    }
  }

  const memories: ModuleLayout['memories'] = [];
  const memorySection = sections.find((s) => s.id === SECTION_MEMORY);
  if (memorySection) {
    const r = new Reader(bytes, memorySection.start, memorySection.end);
    const count = r.u32();
    for (let i = 0; i < count; i++) memories.push(r.limits());
  }
  return { sections, imports, importedMemories, memories };
}

/** Unsigned LEB128, as the binary format writes sizes, counts and indices. */
export function encodeU32(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

function encodeName(s: string): number[] {
  const utf8 = new TextEncoder().encode(s);
  return [...encodeU32(utf8.length), ...utf8];
}

export interface SandboxedModule {
  /** The rewritten module bytes. */
  bytes: Uint8Array;
  /** Present when the module has a linear memory: what the worker must supply per instance. */
  memory: { initialPages: number; maximumPages: number } | undefined;
}

/**
 * Rewrites a module so its memory is capped at `capPages` and supplied by the host as
 * `verge:sandbox.memory`. Rejects modules whose memory Verge cannot police.
 */
export function sandboxModule(bytes: Uint8Array, capPages: number): SandboxedModule {
  const layout = readLayout(bytes);
  if (layout.importedMemories > 0) {
    const imp = layout.imports.find((i) => i.kind === 'memory')!;
    throw new VergeError('MODULE_MEMORY', `the module imports its memory (${imp.module}.${imp.name}); Verge needs modules that define their own memory`);
  }
  if (layout.memories.length === 0) return { bytes, memory: undefined };
  if (layout.memories.length > 1) {
    throw new VergeError('MODULE_MEMORY', `the module defines ${layout.memories.length} memories; Verge supports one`);
  }
  const mem = layout.memories[0]!;
  if (mem.memory64) throw new VergeError('MODULE_MEMORY', 'the module uses a 64-bit memory (memory64); Verge supports 32-bit memories');
  if (mem.shared) throw new VergeError('MODULE_MEMORY', 'the module uses a shared memory (threads); Verge supports unshared memories');
  if (mem.initialPages > capPages) {
    throw new VergeError(
      'MODULE_MEMORY',
      `the module's initial memory is ${mem.initialPages} pages (${pagesToMib(mem.initialPages)} MiB), over the component's memory limit of ${capPages} pages (${pagesToMib(capPages)} MiB); raise limits.memory_mib or shrink the module`,
    );
  }
  const maximumPages = Math.min(mem.maximumPages ?? capPages, capPages);
  const limits = [0x01, ...encodeU32(mem.initialPages), ...encodeU32(maximumPages)];
  const memoryImport = [...encodeName(SANDBOX_MEMORY_IMPORT.module), ...encodeName(SANDBOX_MEMORY_IMPORT.name), 0x02, ...limits];

  const parts: Uint8Array[] = [bytes.subarray(0, 8)];
  const importSection = layout.sections.find((s) => s.id === SECTION_IMPORT);
  let inserted = false;
  const pushSection = (id: number, payload: Uint8Array) => {
    parts.push(Uint8Array.from([id, ...encodeU32(payload.length)]), payload);
  };
  const newImportPayload = (): Uint8Array => {
    if (!importSection) return Uint8Array.from([...encodeU32(1), ...memoryImport]);
    const r = new Reader(bytes, importSection.start, importSection.end);
    const count = r.u32();
    const rest = bytes.subarray(r.pos, importSection.end);
    const head = encodeU32(count + 1);
    const out = new Uint8Array(head.length + rest.length + memoryImport.length);
    out.set(head, 0);
    out.set(rest, head.length);
    out.set(memoryImport, head.length + rest.length);
    return out;
  };
  for (const section of layout.sections) {
    // The import section sits after the type section and before every other known section.
    if (!inserted && section.id !== 0 && section.id !== 1 && section.id !== SECTION_IMPORT) {
      pushSection(SECTION_IMPORT, newImportPayload());
      inserted = true;
    }
    if (section.id === SECTION_IMPORT) {
      pushSection(SECTION_IMPORT, newImportPayload());
      inserted = true;
      continue;
    }
    if (section.id === SECTION_MEMORY) continue;
    pushSection(section.id, bytes.subarray(section.start, section.end));
  }
  if (!inserted) pushSection(SECTION_IMPORT, newImportPayload());

  return { bytes: concatBytes(parts), memory: { initialPages: mem.initialPages, maximumPages } };
}

/** The parts of a rewritten module, in order, as one buffer. */
export function concatBytes(parts: ReadonlyArray<ArrayLike<number>>): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function pagesToMib(pages: number): number {
  return (pages * WASM_PAGE_BYTES) / (1024 * 1024);
}
