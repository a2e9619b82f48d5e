/**
 * The types of a component's top-level imports and exports, read from its binary: enough of the
 * component model's type, import, export, alias, instance, canon and (nested) component sections
 * to know what each imported or exported instance holds — its functions with their parameter and
 * result types, and its types — so that one component's import can be checked against another's
 * export before they are linked (loader/dependencies.ts).
 *
 * Value types (records, variants, lists, ...) are structural in the component model, so they are
 * read into plain trees and compared as such (component-type-diff.ts). Resources are nominal: they
 * are read (to be named in a refusal) but never compared. Core modules are skipped by their
 * section size; core index spaces are not tracked, as no component-level type depends on them.
 *
 * A malformed binary fails with MODULE_INVALID; a construct this reader does not type (component
 * values, core types inside instance types, a canon function it does not know) with
 * DEPENDENCY_INVALID, and only when a type it needs depends on it.
 */
import { VergeError } from '../errors.js';
import { Reader, forEachSection, isComponentBinary } from './binary.js';

export type PrimitiveName = 'bool' | 's8' | 'u8' | 's16' | 'u16' | 's32' | 'u32' | 's64' | 'u64' | 'f32' | 'f64' | 'char' | 'string' | 'error-context';

const PRIMITIVES: ReadonlyMap<number, PrimitiveName> = new Map([
  [0x7f, 'bool'],
  [0x7e, 's8'],
  [0x7d, 'u8'],
  [0x7c, 's16'],
  [0x7b, 'u16'],
  [0x7a, 's32'],
  [0x79, 'u32'],
  [0x78, 's64'],
  [0x77, 'u64'],
  [0x76, 'f32'],
  [0x75, 'f64'],
  [0x74, 'char'],
  [0x73, 'string'],
  [0x64, 'error-context'],
]);

/** The name a type was exported under in an interface (`claims`), for messages only: it takes no part in comparisons. */
interface Named {
  readonly name?: string | undefined;
}

export type ResourceType = Named & { readonly kind: 'resource' };

export type ValType = Named &
  (
    | { readonly kind: 'primitive'; readonly primitive: PrimitiveName }
    | { readonly kind: 'record'; readonly fields: ReadonlyArray<{ readonly name: string; readonly type: ValType }> }
    | { readonly kind: 'variant'; readonly cases: ReadonlyArray<{ readonly name: string; readonly type: ValType | undefined }> }
    | { readonly kind: 'list'; readonly element: ValType; readonly length: number | undefined }
    | { readonly kind: 'tuple'; readonly types: readonly ValType[] }
    | { readonly kind: 'flags' | 'enum'; readonly names: readonly string[] }
    | { readonly kind: 'option'; readonly type: ValType }
    | { readonly kind: 'result'; readonly ok: ValType | undefined; readonly err: ValType | undefined }
    | { readonly kind: 'own' | 'borrow'; readonly resource: ResourceType }
    | { readonly kind: 'stream' | 'future'; readonly type: ValType | undefined }
  );

export interface FuncType {
  readonly kind: 'func';
  readonly params: ReadonlyArray<{ readonly name: string; readonly type: ValType }>;
  readonly result: ValType | undefined;
  /** An async function (0x43), or one with several named results (encoders before 2024): neither is linked. */
  readonly unsupported?: string;
}

/**
 * An item whose type is read when it is needed: a construct this reader cannot type fails only the
 * check that needs it, not every check of the component. Types are objects, never functions.
 */
export type Lazy<T> = T | (() => T);

export function force<T>(item: Lazy<T>): T {
  return typeof item === 'function' ? (item as () => T)() : item;
}

export interface InstanceType {
  readonly kind: 'instance';
  readonly exports: ReadonlyMap<string, Lazy<Extern>>;
}

export interface ComponentType {
  readonly kind: 'component';
  readonly imports: ReadonlyMap<string, Extern>;
  readonly exports: ReadonlyMap<string, Lazy<Extern>>;
}

export type DefType = ValType | ResourceType | FuncType | InstanceType | ComponentType;

export type Extern =
  | { readonly sort: 'func'; readonly type: FuncType }
  | { readonly sort: 'type'; readonly type: ValType | ResourceType }
  | { readonly sort: 'instance'; readonly type: InstanceType }
  | { readonly sort: 'component'; readonly type: ComponentType }
  | { readonly sort: 'module' };

export interface ComponentTypes {
  /** By the name as written: "acme:auth/verify@0.1.0". */
  readonly imports: ReadonlyMap<string, Extern>;
  readonly exports: ReadonlyMap<string, Lazy<Extern>>;
}

/** Components and types nested deeper than this are refused (a hostile binary would recurse). */
export const MAX_NESTING = 32;

const SECTION = { custom: 0, coreModule: 1, coreInstance: 2, coreType: 3, component: 4, instance: 5, alias: 6, type: 7, canon: 8, start: 9, import: 10, export: 11, value: 12 } as const;

const malformed = (detail: string) => new VergeError('MODULE_INVALID', `not a valid WebAssembly component: ${detail}`);
const unsupported = (detail: string) => new VergeError('DEPENDENCY_INVALID', `Verge cannot read this component's types: ${detail}`);
const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

type Sort = 'func' | 'value' | 'type' | 'component' | 'instance' | 'core';

/**
 * One index space per sort this reader tracks, for a component or for an instance or component
 * type being defined. Core sorts and values are not tracked: no component-level type depends on them.
 */
class Space {
  readonly types: Array<Lazy<DefType>> = [];
  readonly funcs: Array<Lazy<FuncType>> = [];
  readonly instances: Array<Lazy<InstanceType>> = [];
  readonly components: Array<Lazy<ComponentType>> = [];
  /** Set once the func index space can no longer be followed (a canon function this reader does not know): from where, and why. */
  funcsLost: { at: number; why: string } | undefined;

  constructor(readonly outer: Space | undefined) {}

  /** `alias outer count index`: the space `count` levels out. */
  up(count: number): Space {
    let s: Space | undefined = this;
    for (let i = 0; i < count && s; i++) s = s.outer;
    if (!s) throw malformed(`an outer alias reaches ${count} levels out, past the outermost component`);
    return s;
  }

  type(index: number): DefType {
    return pick(this.types, index, 'type');
  }

  func(index: number): FuncType {
    if (this.funcsLost !== undefined && index >= this.funcsLost.at) throw unsupported(this.funcsLost.why);
    return pick(this.funcs, index, 'function');
  }

  instance(index: number): InstanceType {
    return pick(this.instances, index, 'instance');
  }

  component(index: number): ComponentType {
    return pick(this.components, index, 'component');
  }

  /** Adds an item to its sort's index space (imports, exports and aliases do). */
  add(sort: Extern['sort'] | Sort, item: Lazy<Extern>): void {
    const of = <E extends Extern>(want: E['sort']) => (): E => {
      const e = force(item);
      if (e.sort !== want) throw malformed(`a ${want} turned out to be a ${e.sort}`);
      return e as E;
    };
    const now = typeof item === 'function' ? undefined : item;
    if (sort === 'func') this.funcs.push(now?.sort === 'func' ? now.type : () => of<Extract<Extern, { sort: 'func' }>>('func')().type);
    else if (sort === 'type') this.types.push(now?.sort === 'type' ? now.type : () => of<Extract<Extern, { sort: 'type' }>>('type')().type);
    else if (sort === 'instance') this.instances.push(now?.sort === 'instance' ? now.type : () => of<Extract<Extern, { sort: 'instance' }>>('instance')().type);
    else if (sort === 'component') this.components.push(now?.sort === 'component' ? now.type : () => of<Extract<Extern, { sort: 'component' }>>('component')().type);
  }
}

function pick<T>(space: ReadonlyArray<Lazy<T>>, index: number, what: string): T {
  if (index >= space.length) throw malformed(`${what} index ${index} is out of range (${space.length} defined)`);
  return force(space[index]!);
}

/**
 * Runs `read` now; a construct it cannot type becomes an entry that fails when it is needed. A
 * malformed binary fails at once.
 */
function deferUnsupported<T>(read: () => T): Lazy<T> {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof VergeError && err.code === 'DEPENDENCY_INVALID')) throw err;
    return () => {
      throw err;
    };
  }
}

/** Evaluated once, on first use (a nested component nothing instantiates is never read). */
function once<T>(read: () => T): () => T {
  let done: { value: T } | undefined;
  return () => (done ??= { value: read() }).value;
}

/**
 * The types of `bytes`' top-level imports and exports. Throws MODULE_INVALID for a malformed
 * component and DEPENDENCY_INVALID for constructs it cannot type (an export's, when it is forced).
 */
export function readComponentTypes(bytes: Uint8Array): ComponentTypes {
  if (!isComponentBinary(bytes)) throw malformed('not a component (no component header)');
  const { imports, exports } = readComponentBody(new Reader(bytes, 8, bytes.length, malformed), undefined, 0);
  return { imports, exports };
}

function readComponentBody(top: Reader, outer: Space | undefined, depth: number): ComponentType {
  if (depth > MAX_NESTING) throw malformed(`components are nested more than ${MAX_NESTING} deep`);
  const space = new Space(outer);
  const imports = new Map<string, Extern>();
  const exports = new Map<string, Lazy<Extern>>();
  while (top.pos < top.end) {
    const id = top.byte();
    const size = top.u32();
    const end = top.pos + size;
    if (end > top.end) throw malformed(`section ${id} runs past the end of the component`);
    const r = new Reader(top.bytes, top.pos, end, malformed);
    switch (id) {
      case SECTION.type:
        vector(r, () => space.types.push(readDefType(r, space, depth)));
        break;
      case SECTION.import:
        vector(r, () => {
          const name = externName(r);
          const extern = readExternDesc(r, space, name);
          imports.set(name, extern);
          space.add(extern.sort, extern);
        });
        break;
      case SECTION.export:
        vector(r, () => {
          const name = externName(r);
          const item = readSortIndex(r);
          const ascribed = r.byte();
          let extern: Lazy<Extern>;
          if (ascribed === 0x01) extern = readExternDesc(r, space, name);
          else if (ascribed === 0x00) extern = deferUnsupported(() => lookup(space, item, name));
          else throw malformed(`export ${name} has an unknown type ascription flag ${hex(ascribed)}`);
          exports.set(name, extern);
          space.add(item.sort, extern);
        });
        break;
      case SECTION.alias:
        vector(r, () => readAlias(r, space, false));
        break;
      case SECTION.instance:
        vector(r, () => space.instances.push(readInstance(r, space)));
        break;
      case SECTION.component: {
        const header = r.take(Math.min(8, end - r.pos));
        if (!isComponentBinary(header)) throw malformed('a nested component does not start with a component header');
        const at = r.pos;
        space.components.push(once(() => readComponentBody(new Reader(r.bytes, at, end, malformed), space, depth + 1)));
        r.pos = end;
        break;
      }
      case SECTION.canon:
        readCanonSection(r, space);
        break;
      case SECTION.coreModule:
      case SECTION.coreInstance:
      case SECTION.coreType:
      case SECTION.custom:
      case SECTION.start:
      case SECTION.value:
        // Core items and values: no component-level type depends on them.
        r.pos = end;
        break;
      default:
        throw malformed(`unknown section id ${id}`);
    }
    if (r.pos !== end) throw malformed(`section ${id} has ${end - r.pos} bytes after its entries`);
    top.pos = end;
  }
  return { kind: 'component', imports, exports };
}

function vector(r: Reader, each: (i: number) => void): void {
  const count = r.u32();
  // Every entry takes at least one byte: a count beyond what is left is malformed, whatever it says.
  if (count > r.end - r.pos) throw malformed(`a vector of ${count} entries in ${r.end - r.pos} bytes`);
  for (let i = 0; i < count; i++) each(i);
}

/** An import or export name: a form byte (0x00, or 0x01 from encoders before September 2024) and a string. */
function externName(r: Reader): string {
  const form = r.byte();
  if (form !== 0x00 && form !== 0x01) throw malformed(`an import or export name has an unknown form ${hex(form)}`);
  return r.name();
}

function readSort(r: Reader): Sort {
  const b = r.byte();
  switch (b) {
    case 0x00:
      r.byte();
      return 'core';
    case 0x01:
      return 'func';
    case 0x02:
      return 'value';
    case 0x03:
      return 'type';
    case 0x04:
      return 'component';
    case 0x05:
      return 'instance';
    default:
      throw malformed(`unknown sort ${hex(b)}`);
  }
}

function readSortIndex(r: Reader): { sort: Sort; index: number } {
  const sort = readSort(r);
  return { sort, index: r.u32() };
}

/** The item a sort and index name, as an extern (the type of an export without ascription). */
function lookup(space: Space, item: { sort: Sort; index: number }, name: string): Extern {
  switch (item.sort) {
    case 'func':
      return { sort: 'func', type: space.func(item.index) };
    case 'type':
      return { sort: 'type', type: named(typeOfType(space.type(item.index), name), name) };
    case 'instance':
      return { sort: 'instance', type: space.instance(item.index) };
    case 'component':
      return { sort: 'component', type: space.component(item.index) };
    case 'core':
      return { sort: 'module' };
    case 'value':
      throw unsupported(`${name} is a component value (values are not linked)`);
  }
}

/** A type that can be imported, exported or aliased as a type: a value type or a resource. */
function typeOfType(t: DefType, name: string): ValType | ResourceType {
  if (t.kind === 'func' || t.kind === 'instance' || t.kind === 'component') throw unsupported(`${name} is a ${t.kind} type given as a type`);
  return t;
}

function named<T extends ValType | ResourceType>(t: T, name: string): T {
  // Resources are nominal: the same object (named where it is first exported); value types are copied with the name.
  if (t.kind === 'resource') {
    if (t.name === undefined) (t as { name?: string }).name = name;
    return t;
  }
  return { ...t, name };
}

function readExternDesc(r: Reader, space: Space, name: string): Extern {
  const kind = r.byte();
  switch (kind) {
    case 0x00: {
      const sort = r.byte();
      if (sort !== 0x11) throw malformed(`${name} is a core item of sort ${hex(sort)}; only core modules (0x11) are`);
      r.u32();
      return { sort: 'module' };
    }
    case 0x01: {
      const t = space.type(r.u32());
      if (t.kind !== 'func') throw malformed(`${name} is declared a function of a ${t.kind} type`);
      return { sort: 'func', type: t };
    }
    case 0x02:
      throw unsupported(`${name} is a component value (values are not linked)`);
    case 0x03: {
      const bound = r.byte();
      if (bound === 0x01) return { sort: 'type', type: { kind: 'resource', name } };
      if (bound !== 0x00) throw malformed(`${name} has an unknown type bound ${hex(bound)}`);
      return { sort: 'type', type: named(typeOfType(space.type(r.u32()), name), name) };
    }
    case 0x04: {
      const t = space.type(r.u32());
      if (t.kind !== 'component') throw malformed(`${name} is declared a component of a ${t.kind} type`);
      return { sort: 'component', type: t };
    }
    case 0x05: {
      const t = space.type(r.u32());
      if (t.kind !== 'instance') throw malformed(`${name} is declared an instance of a ${t.kind} type`);
      return { sort: 'instance', type: t };
    }
    default:
      throw malformed(`${name} has an unknown extern kind ${hex(kind)}`);
  }
}

/** An alias adds to its sort's index space. Inside a type definition there are no core instances to alias from. */
function readAlias(r: Reader, space: Space, inType: boolean): void {
  const sort = readSort(r);
  const target = r.byte();
  if (target === 0x00) {
    const index = r.u32();
    const name = r.name();
    if (sort === 'core' || sort === 'value') return;
    space.add(
      sort,
      deferUnsupported(() => {
        const extern = space.instance(index).exports.get(name);
        if (!extern) throw malformed(`an alias names export ${name}, which instance ${index} does not have`);
        return force(extern);
      }),
    );
    return;
  }
  if (target === 0x01) {
    if (inType) throw malformed('a core export alias inside a type definition');
    if (sort !== 'core') throw malformed(`a core export alias of sort ${sort}`);
    r.u32();
    r.name();
    return;
  }
  if (target === 0x02) {
    const from = space.up(r.u32());
    const index = r.u32();
    if (sort === 'type') space.types.push(deferUnsupported(() => from.type(index)));
    else if (sort === 'component') {
      const entry = from.components[index];
      if (entry === undefined) throw malformed(`component index ${index} is out of range (${from.components.length} defined)`);
      space.components.push(entry);
    } else if (sort !== 'core') throw malformed(`an outer alias of sort ${sort}`);
    return;
  }
  throw malformed(`unknown alias target ${hex(target)}`);
}

/** An instance: one made by instantiating a component (its type is the component's exports), or one made of inline exports. */
function readInstance(r: Reader, space: Space): Lazy<InstanceType> {
  const kind = r.byte();
  if (kind === 0x00) {
    const index = r.u32();
    vector(r, () => {
      r.name();
      readSortIndex(r);
    });
    if (index >= space.components.length) throw malformed(`component index ${index} is out of range (${space.components.length} defined)`);
    // The arguments matter only to resources (never linked): value types are structural.
    return once(() => ({ kind: 'instance', exports: space.component(index).exports }));
  }
  if (kind === 0x01) {
    const exports = new Map<string, Lazy<Extern>>();
    vector(r, () => {
      const name = externName(r);
      const item = readSortIndex(r);
      exports.set(name, deferUnsupported(() => lookup(space, item, name)));
    });
    return { kind: 'instance', exports };
  }
  throw malformed(`unknown instance kind ${hex(kind)}`);
}

/**
 * Canonical functions: `lift` makes a component function (typed by its type index); every other
 * one makes a core function, which no component type depends on. They are read only to find the
 * lifts' place in the func index space; one this reader does not know ends that.
 */
function readCanonSection(r: Reader, space: Space): void {
  const count = r.u32();
  if (count > r.end - r.pos) throw malformed(`a vector of ${count} entries in ${r.end - r.pos} bytes`);
  for (let i = 0; i < count; i++) {
    const op = r.byte();
    if (op === 0x00) {
      const sub = r.byte();
      if (sub !== 0x00) throw malformed(`canon lift has ${hex(sub)} where 0x00 belongs`);
      r.u32();
      canonOptions(r);
      const t = space.type(r.u32());
      if (t.kind !== 'func') throw malformed(`canon lift to a ${t.kind} type`);
      space.funcs.push(t);
      continue;
    }
    const shape = CANON_CORE_FUNCTIONS.get(op);
    if (!shape) {
      // Nothing after this is readable; the lifts that came before keep their places.
      space.funcsLost ??= { at: space.funcs.length, why: `it has a canonical function ${hex(op)} this reader does not know` };
      r.pos = r.end;
      return;
    }
    for (const part of shape.parts) {
      if (part === 'u32') r.u32();
      else if (part === 'byte') r.byte();
      else if (part === 'opts') canonOptions(r);
      else if (part === 'results') {
        const b = r.byte();
        if (b === 0x00) valTypeRef(r);
        else if (b === 0x01) {
          if (r.byte() !== 0x00) throw malformed('a task.return result list has named results');
        } else throw malformed(`a result list starts with ${hex(b)}`);
      }
    }
  }
}

/** The immediates of each core-function-making canon (Binary.md): lower, the resource and async built-ins. */
type CanonPart = 'u32' | 'byte' | 'opts' | 'results';
const CANON_CORE_FUNCTIONS: ReadonlyMap<number, { name: string; parts: readonly CanonPart[] }> = new Map<number, { name: string; parts: readonly CanonPart[] }>([
  [0x01, { name: 'lower', parts: ['byte', 'u32', 'opts'] }],
  [0x02, { name: 'resource.new', parts: ['u32'] }],
  [0x03, { name: 'resource.drop', parts: ['u32'] }],
  [0x07, { name: 'resource.drop async', parts: ['u32'] }],
  [0x04, { name: 'resource.rep', parts: ['u32'] }],
  [0x08, { name: 'backpressure.set', parts: [] }],
  [0x24, { name: 'backpressure.inc', parts: [] }],
  [0x25, { name: 'backpressure.dec', parts: [] }],
  [0x09, { name: 'task.return', parts: ['results', 'opts'] }],
  [0x05, { name: 'task.cancel', parts: [] }],
  [0x0a, { name: 'context.get', parts: ['byte', 'u32'] }],
  [0x0b, { name: 'context.set', parts: ['byte', 'u32'] }],
  [0x0c, { name: 'yield', parts: ['byte'] }],
  [0x06, { name: 'subtask.cancel', parts: ['byte'] }],
  [0x0d, { name: 'subtask.drop', parts: [] }],
  [0x0e, { name: 'stream.new', parts: ['u32'] }],
  [0x0f, { name: 'stream.read', parts: ['u32', 'opts'] }],
  [0x10, { name: 'stream.write', parts: ['u32', 'opts'] }],
  [0x11, { name: 'stream.cancel-read', parts: ['u32', 'byte'] }],
  [0x12, { name: 'stream.cancel-write', parts: ['u32', 'byte'] }],
  [0x13, { name: 'stream.drop-readable', parts: ['u32'] }],
  [0x14, { name: 'stream.drop-writable', parts: ['u32'] }],
  [0x15, { name: 'future.new', parts: ['u32'] }],
  [0x16, { name: 'future.read', parts: ['u32', 'opts'] }],
  [0x17, { name: 'future.write', parts: ['u32', 'opts'] }],
  [0x18, { name: 'future.cancel-read', parts: ['u32', 'byte'] }],
  [0x19, { name: 'future.cancel-write', parts: ['u32', 'byte'] }],
  [0x1a, { name: 'future.drop-readable', parts: ['u32'] }],
  [0x1b, { name: 'future.drop-writable', parts: ['u32'] }],
  [0x1c, { name: 'error-context.new', parts: ['opts'] }],
  [0x1d, { name: 'error-context.debug-message', parts: ['opts'] }],
  [0x1e, { name: 'error-context.drop', parts: [] }],
  [0x1f, { name: 'waitable-set.new', parts: [] }],
  [0x20, { name: 'waitable-set.wait', parts: ['byte', 'u32'] }],
  [0x21, { name: 'waitable-set.poll', parts: ['byte', 'u32'] }],
  [0x22, { name: 'waitable-set.drop', parts: [] }],
  [0x23, { name: 'waitable.join', parts: [] }],
]);

/** Reads a canonopt vector; true when it holds the async option. */
function canonOptions(r: Reader): boolean {
  let async = false;
  vector(r, () => {
    const opt = r.byte();
    if (opt === 0x06) async = true;
    if (opt <= 0x02 || opt === 0x06) return; // string encodings, async
    if ((opt >= 0x03 && opt <= 0x05) || opt === 0x07 || opt === 0x08) {
      r.u32(); // memory, realloc, post-return, callback, core type
      return;
    }
    throw malformed(`unknown canonical option ${hex(opt)}`);
  });
  return async;
}

/** A value type reference: a primitive byte, or a type index written as a non-negative s33. */
function valTypeRef(r: Reader): { primitive: PrimitiveName } | { index: number } {
  if (r.pos >= r.end) throw malformed('unexpected end of section');
  const first = r.bytes[r.pos]!;
  const primitive = PRIMITIVES.get(first);
  if (primitive !== undefined) {
    r.pos++;
    return { primitive };
  }
  let result = 0;
  let shift = 0;
  let b: number;
  do {
    if (shift >= 35) throw malformed('LEB128 integer too long');
    b = r.byte();
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (b & 0x40) throw malformed(`unknown value type ${hex(first)}`);
  if (result > 0xffffffff) throw malformed('a type index is out of range');
  return { index: result };
}

function valType(r: Reader, space: Space): ValType {
  const ref = valTypeRef(r);
  if ('primitive' in ref) return { kind: 'primitive', primitive: ref.primitive };
  const t = space.type(ref.index);
  if (t.kind === 'resource') throw malformed(`type ${ref.index} is a resource, used as a value type without own or borrow`);
  if (t.kind === 'func' || t.kind === 'instance' || t.kind === 'component') throw malformed(`type ${ref.index} is a ${t.kind} type, used as a value type`);
  return t;
}

function optional<T>(r: Reader, read: () => T): T | undefined {
  const flag = r.byte();
  if (flag === 0x00) return undefined;
  if (flag === 0x01) return read();
  throw malformed(`an optional has the flag ${hex(flag)} (expected 0x00 or 0x01)`);
}

function labels(r: Reader): string[] {
  const out: string[] = [];
  vector(r, () => out.push(r.name()));
  return out;
}

function handle(r: Reader, space: Space, kind: 'own' | 'borrow'): ValType {
  const index = r.u32();
  const t = space.type(index);
  if (t.kind !== 'resource') throw malformed(`${kind} of type ${index}, which is not a resource`);
  return { kind, resource: t };
}

function readDefType(r: Reader, space: Space, depth: number): DefType {
  if (depth > MAX_NESTING) throw malformed(`types are nested more than ${MAX_NESTING} deep`);
  if (r.pos >= r.end) throw malformed('unexpected end of section');
  const first = r.bytes[r.pos]!;
  const primitive = PRIMITIVES.get(first);
  if (primitive !== undefined) {
    r.pos++;
    return { kind: 'primitive', primitive };
  }
  r.pos++;
  switch (first) {
    case 0x72: {
      const fields: Array<{ name: string; type: ValType }> = [];
      vector(r, () => fields.push({ name: r.name(), type: valType(r, space) }));
      return { kind: 'record', fields };
    }
    case 0x71: {
      const cases: Array<{ name: string; type: ValType | undefined }> = [];
      vector(r, () => {
        const name = r.name();
        const type = optional(r, () => valType(r, space));
        // What was once a `refines` index: 0x00 today, 0x01 and an index from older encoders.
        if (optional(r, () => r.u32()) !== undefined) throw unsupported(`variant case ${name} refines another case`);
        cases.push({ name, type });
      });
      return { kind: 'variant', cases };
    }
    case 0x70:
      return { kind: 'list', element: valType(r, space), length: undefined };
    case 0x67: {
      const element = valType(r, space);
      return { kind: 'list', element, length: r.u32() };
    }
    case 0x6f: {
      const types: ValType[] = [];
      vector(r, () => types.push(valType(r, space)));
      return { kind: 'tuple', types };
    }
    case 0x6e:
      return { kind: 'flags', names: labels(r) };
    case 0x6d:
      return { kind: 'enum', names: labels(r) };
    case 0x6b:
      return { kind: 'option', type: valType(r, space) };
    case 0x6a: {
      const ok = optional(r, () => valType(r, space));
      return { kind: 'result', ok, err: optional(r, () => valType(r, space)) };
    }
    case 0x69:
      return handle(r, space, 'own');
    case 0x68:
      return handle(r, space, 'borrow');
    case 0x66:
      return { kind: 'stream', type: optional(r, () => valType(r, space)) };
    case 0x65:
      return { kind: 'future', type: optional(r, () => valType(r, space)) };
    case 0x40:
    case 0x43:
      return readFuncType(r, space, first === 0x43);
    case 0x41:
      return readComponentType(r, space, depth);
    case 0x42:
      return readInstanceType(r, space, depth);
    case 0x3f: {
      if (r.byte() !== 0x7f) throw malformed('a resource type whose representation is not i32');
      optional(r, () => r.u32());
      return { kind: 'resource' };
    }
    case 0x3e: {
      if (r.byte() !== 0x7f) throw malformed('a resource type whose representation is not i32');
      r.u32();
      optional(r, () => r.u32());
      return { kind: 'resource' };
    }
    default:
      throw malformed(`unknown type form ${hex(first)}`);
  }
}

function readFuncType(r: Reader, space: Space, async: boolean): FuncType {
  const params: Array<{ name: string; type: ValType }> = [];
  vector(r, () => params.push({ name: r.name(), type: valType(r, space) }));
  const form = r.byte();
  let result: ValType | undefined;
  let unsupportedWhy: string | undefined = async ? 'it is an async function' : undefined;
  if (form === 0x00) result = valType(r, space);
  else if (form === 0x01) {
    // 0x01 0x00 is "no result"; older encoders wrote several named results here.
    const named: Array<{ name: string; type: ValType }> = [];
    vector(r, () => named.push({ name: r.name(), type: valType(r, space) }));
    if (named.length > 0) unsupportedWhy ??= `it has ${named.length} named results (an encoding from before 2024)`;
  } else throw malformed(`a function's result list starts with ${hex(form)}`);
  return unsupportedWhy ? { kind: 'func', params, result, unsupported: unsupportedWhy } : { kind: 'func', params, result };
}

/** The declarations of an instance or component type, in their own index space. */
function readDecls(r: Reader, space: Space, depth: number, onImport: ((name: string, extern: Extern) => void) | undefined, onExport: (name: string, extern: Extern) => void): void {
  vector(r, () => {
    const kind = r.byte();
    switch (kind) {
      case 0x00:
        throw unsupported('a core type inside an instance or component type');
      case 0x01:
        space.types.push(readDefType(r, space, depth + 1));
        return;
      case 0x02:
        readAlias(r, space, true);
        return;
      case 0x03: {
        if (!onImport) throw malformed('an import declaration inside an instance type');
        const name = externName(r);
        const extern = readExternDesc(r, space, name);
        onImport(name, extern);
        space.add(extern.sort, extern);
        return;
      }
      case 0x04: {
        const name = externName(r);
        const extern = readExternDesc(r, space, name);
        onExport(name, extern);
        space.add(extern.sort, extern);
        return;
      }
      default:
        throw malformed(`unknown declaration kind ${hex(kind)} in a type`);
    }
  });
}

function readInstanceType(r: Reader, outer: Space, depth: number): InstanceType {
  const exports = new Map<string, Extern>();
  readDecls(r, new Space(outer), depth, undefined, (name, extern) => exports.set(name, extern));
  return { kind: 'instance', exports };
}

function readComponentType(r: Reader, outer: Space, depth: number): ComponentType {
  const imports = new Map<string, Extern>();
  const exports = new Map<string, Extern>();
  readDecls(r, new Space(outer), depth, (name, extern) => imports.set(name, extern), (name, extern) => exports.set(name, extern));
  return { kind: 'component', imports, exports };
}

/**
 * The first use of the component model's async ABI (what WASI 0.3 is built on) in a component or
 * the components nested in it, described for a message; undefined when there is none. It shows in
 * canonical definitions: a `lift` or `lower` with the `async` option, or a built-in of the async
 * family (every one but lift, lower and resource.new/drop/rep: task.return, streams, futures,
 * waitable sets, subtasks, backpressure, context, yield, error contexts). A canon opcode this
 * reader does not know (the thread built-ins, or a later draft's) is reported as such: it is no
 * built-in Verge provides either.
 */
export function componentAsyncUse(bytes: Uint8Array): string | undefined {
  if (!isComponentBinary(bytes)) throw malformed('not a component');
  return asyncUseIn(bytes, 8, bytes.length, 0);
}

const SYNC_CANON = new Set([0x00, 0x01, 0x02, 0x03, 0x04]);

function asyncUseIn(bytes: Uint8Array, start: number, end: number, depth: number): string | undefined {
  if (depth > MAX_NESTING) throw malformed(`components are nested more than ${MAX_NESTING} deep`);
  let found: string | undefined;
  forEachSection(bytes, start, end, (id, r) => {
    if (found) return;
    if (id === SECTION.component) {
      if (r.end - r.pos >= 8) found = asyncUseIn(bytes, r.pos + 8, r.end, depth + 1);
      return;
    }
    if (id !== SECTION.canon) return;
    const count = r.u32();
    for (let i = 0; i < count && !found; i++) {
      const op = r.byte();
      const shape = op === 0x00 ? { name: 'lift', parts: ['byte', 'u32', 'opts', 'u32'] as const } : CANON_CORE_FUNCTIONS.get(op);
      if (!shape) {
        found = `the canonical built-in ${hex(op)}, which Verge does not know`;
        return;
      }
      if (!SYNC_CANON.has(op)) {
        found = `the async built-in ${shape.name}`;
        return;
      }
      for (const part of shape.parts) {
        if (part === 'opts') {
          if (canonOptions(r)) found = `a function ${shape.name === 'lift' ? 'lifted' : 'lowered'} with the async option`;
        } else if (part === 'u32') r.u32();
        else r.byte();
      }
    }
  });
  return found;
}
