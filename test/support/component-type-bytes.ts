/**
 * Component-model types written byte by byte (Binary.md), for tests of the type reader
 * (src/wasm/component-types.ts) without a toolchain: value and function types, instance types, and
 * components that import an interface or export one the way wit-component does (a nested
 * component instantiated and its instance exported, the exports' types ascribed).
 */
import { component, s33, section, u32 } from './component-bytes.js';

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const name = (s: string) => [...u32(utf8(s).length), ...utf8(s)];
const vec = (items: number[][]) => [...u32(items.length), ...items.flat()];

/** Value types: primitives are one byte; `ref(i)` names type i. */
export const T = {
  bool: [0x7f],
  u8: [0x7d],
  s32: [0x7a],
  u32: [0x79],
  u64: [0x77],
  f64: [0x75],
  char: [0x74],
  string: [0x73],
  errorContext: [0x64],
  ref: (index: number) => s33(index),
};

/** Type definitions (the entries of a type section, or `type` declarations in an instance type). */
export const D = {
  record: (fields: Array<[string, number[]]>) => [0x72, ...vec(fields.map(([n, t]) => [...name(n), ...t]))],
  variant: (cases: Array<[string, number[] | undefined]>) => [0x71, ...vec(cases.map(([n, t]) => [...name(n), ...(t ? [0x01, ...t] : [0x00]), 0x00]))],
  list: (t: number[]) => [0x70, ...t],
  tuple: (ts: number[][]) => [0x6f, ...vec(ts)],
  flags: (names: string[]) => [0x6e, ...vec(names.map(name))],
  enum: (names: string[]) => [0x6d, ...vec(names.map(name))],
  option: (t: number[]) => [0x6b, ...t],
  result: (ok: number[] | undefined, err: number[] | undefined) => [0x6a, ...(ok ? [0x01, ...ok] : [0x00]), ...(err ? [0x01, ...err] : [0x00])],
  own: (index: number) => [0x69, ...u32(index)],
  borrow: (index: number) => [0x68, ...u32(index)],
  stream: (t: number[] | undefined) => [0x66, ...(t ? [0x01, ...t] : [0x00])],
  func: (params: Array<[string, number[]]>, result?: number[]) => [0x40, ...vec(params.map(([n, t]) => [...name(n), ...t])), ...(result ? [0x00, ...result] : [0x01, 0x00])],
  asyncFunc: (params: Array<[string, number[]]>, result?: number[]) => [0x43, ...vec(params.map(([n, t]) => [...name(n), ...t])), ...(result ? [0x00, ...result] : [0x01, 0x00])],
  instance: (decls: number[][]) => [0x42, ...vec(decls)],
  component: (decls: number[][]) => [0x41, ...vec(decls)],
} as const;

/** Declarations inside an instance or component type. Exports and imports add to the type's own index spaces. */
export const Decl = {
  type: (def: number[]) => [0x01, ...def],
  exportFunc: (n: string, typeIndex: number) => [0x04, 0x00, ...name(n), 0x01, ...u32(typeIndex)],
  exportType: (n: string, typeIndex: number) => [0x04, 0x00, ...name(n), 0x03, 0x00, ...u32(typeIndex)],
  exportResource: (n: string) => [0x04, 0x00, ...name(n), 0x03, 0x01],
  exportInstance: (n: string, typeIndex: number) => [0x04, 0x00, ...name(n), 0x05, ...u32(typeIndex)],
  importFunc: (n: string, typeIndex: number) => [0x03, 0x00, ...name(n), 0x01, ...u32(typeIndex)],
  /** `alias outer count index (type)`. */
  aliasOuterType: (count: number, index: number) => [0x02, 0x03, 0x02, ...u32(count), ...u32(index)],
  coreType: () => [0x00, 0x50, 0x00],
} as const;

export const typeSection = (defs: number[][]) => section(7, vec(defs));

/** Imports of the top level: an instance of type `typeIndex`, a function, or a type equal to one. */
export const Import = {
  instance: (n: string, typeIndex: number) => [0x00, ...name(n), 0x05, ...u32(typeIndex)],
  func: (n: string, typeIndex: number) => [0x00, ...name(n), 0x01, ...u32(typeIndex)],
  typeEq: (n: string, typeIndex: number) => [0x00, ...name(n), 0x03, 0x00, ...u32(typeIndex)],
  value: (n: string) => [0x00, ...name(n), 0x02, 0x01, 0x73],
} as const;
export const importsSection = (imports: number[][]) => section(10, vec(imports));

const SORT = { func: [0x01], value: [0x02], type: [0x03], component: [0x04], instance: [0x05] } as const;
export type SortName = keyof typeof SORT;

export interface ExportSpec {
  name: string;
  sort: SortName;
  index: number;
  /** An extern descriptor for the type ascription, e.g. `[0x01, typeIndex]` for a function. */
  ascription?: number[];
}
export const exportsSection = (exports: ExportSpec[]) =>
  section(11, vec(exports.map((e) => [0x00, ...name(e.name), ...SORT[e.sort], ...u32(e.index), ...(e.ascription ? [0x01, ...e.ascription] : [0x00])])));

/** `alias export instance name (sort)`. */
export const aliasExport = (sort: SortName, instance: number, n: string) => [...SORT[sort], 0x00, ...u32(instance), ...name(n)];
export const aliasSection = (aliases: number[][]) => section(6, vec(aliases));

/** An instance section: `instantiate component args` entries, or inline exports. */
export const Instance = {
  instantiate: (componentIndex: number, args: Array<{ name: string; sort: SortName; index: number }>) => [0x00, ...u32(componentIndex), ...vec(args.map((a) => [...name(a.name), ...SORT[a.sort], ...u32(a.index)]))],
  inline: (exports: Array<{ name: string; sort: SortName; index: number }>) => [0x01, ...vec(exports.map((e) => [0x00, ...name(e.name), ...SORT[e.sort], ...u32(e.index)]))],
} as const;
export const instanceSection = (instances: number[][]) => section(5, vec(instances));

/** A nested component section holding `bytes` (a whole component, header included). */
export const componentSection = (bytes: Uint8Array) => section(4, [...bytes]);

/** A canon section with one `lift` of core func 0 to type `typeIndex`, with no options. */
export const canonLiftSection = (typeIndex: number) => section(8, [0x01, 0x00, 0x00, 0x00, 0x00, ...u32(typeIndex)]);

/** A component that imports one interface, of the instance type built from `decls`. */
export function importing(interfaceName: string, decls: number[][]): Uint8Array {
  return component(typeSection([D.instance(decls)]), importsSection([Import.instance(interfaceName, 0)]));
}

/**
 * A component that exports one interface the way wit-component writes it: a nested component
 * (with the types `defs`, then its exports with their types ascribed) instantiated, and the
 * instance exported. Each function the nested component exports comes from an import of the same
 * type (the outer component imports a host function for it; the reader follows types, not code).
 */
export function exporting(interfaceName: string, defs: number[][], exports: Array<{ name: string; func?: number; type?: number }>): Uint8Array {
  const funcs = exports.filter((e) => e.func !== undefined);
  const nestedTypes = typeSection(defs);
  // Inside the nested component: imports of its functions, then the exports (funcs ascribed).
  const nested = component(
    nestedTypes,
    importsSection(funcs.map((e) => Import.func(`import-func-${e.name}`, e.func!))),
    exportsSection(exports.map((e) => (e.func !== undefined ? { name: e.name, sort: 'func' as const, index: funcs.indexOf(e), ascription: [0x01, ...u32(e.func)] } : { name: e.name, sort: 'type' as const, index: e.type! }))),
  );
  // Outside: the same types, a host function per export to pass in, the instance and its export.
  return component(
    typeSection(defs),
    importsSection(funcs.map((e) => Import.func(`host-${e.name}`, e.func!))),
    componentSection(nested),
    instanceSection([Instance.instantiate(0, funcs.map((e, i) => ({ name: `import-func-${e.name}`, sort: 'func' as const, index: i })))]),
    exportsSection([{ name: interfaceName, sort: 'instance', index: 0 }]),
  );
}
