/**
 * Component-model binaries written byte by byte, for tests of the component reader: every import
 * name form and extern descriptor kind, without a toolchain. The smallest useful one (an empty
 * instance type and imports of it) is a real component that jco transpiles.
 */
import { encodeU32 as u32 } from '../../src/wasm/binary.js';

export { u32 };

export const COMPONENT_HEADER = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00] as const;

/** Extern descriptors, as the component binary format encodes them after an import's name. */
export const DESCRIPTOR = {
  module: (typeIndex = 0) => [0x00, 0x11, ...u32(typeIndex)],
  func: (typeIndex = 0) => [0x01, ...u32(typeIndex)],
  /** A primitive value type is one byte (0x73 string .. 0x7f bool); a type index is an s33. */
  valuePrimitive: (byte = 0x73) => [0x02, byte],
  valueTypeIndex: (typeIndex: number) => [0x02, ...s33(typeIndex)],
  typeEq: (typeIndex = 0) => [0x03, 0x00, ...u32(typeIndex)],
  typeSubResource: () => [0x03, 0x01],
  component: (typeIndex = 0) => [0x04, ...u32(typeIndex)],
  instance: (typeIndex = 0) => [0x05, ...u32(typeIndex)],
} as const;

export interface ImportSpec {
  name: string;
  /** The name form byte: 0x00 today, 0x01 from encoders before September 2024. */
  form?: number;
  descriptor?: number[];
}

/** A non-negative number as a signed LEB128 (s33): bit 6 of the last byte must stay clear. */
export function s33(value: number): number[] {
  const out: number[] = [];
  let v = value;
  for (;;) {
    const b = v % 128;
    v = Math.floor(v / 128);
    if (v === 0 && (b & 0x40) === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export function section(id: number, payload: number[]): number[] {
  return [id, ...u32(payload.length), ...payload];
}

export function importSection(imports: ImportSpec[]): number[] {
  const payload = [...u32(imports.length)];
  for (const i of imports) {
    const utf8 = [...new TextEncoder().encode(i.name)];
    payload.push(i.form ?? 0x00, ...u32(utf8.length), ...utf8, ...(i.descriptor ?? DESCRIPTOR.instance(0)));
  }
  return section(10, payload);
}

/** A type section with one empty instance type: what an instance import refers to. */
export const EMPTY_INSTANCE_TYPE_SECTION = section(7, [0x01, 0x42, 0x00]);

export function component(...sections: number[][]): Uint8Array {
  return Uint8Array.from([...COMPONENT_HEADER, ...sections.flat()]);
}

/** A real component: an empty instance type imported under each name, in the given form. */
export function componentImporting(names: string[], form = 0x00): Uint8Array {
  return component(EMPTY_INSTANCE_TYPE_SECTION, importSection(names.map((name) => ({ name, form }))));
}

/**
 * A copy of a component whose outer import names are rewritten to the older 0x01 form, as
 * cargo-component and componentize-dotnet wrote them before September 2024. The form byte is
 * one byte either way, so every size and offset stays as it was.
 */
export function withOlderImportNameForm(bytes: Uint8Array, names: string[]): Uint8Array {
  const out = Uint8Array.from(bytes);
  const firstImportSection = outerSectionOffsets(bytes).find((s) => s.id === 10);
  if (!firstImportSection) throw new Error('the component has no import section');
  for (const name of names) {
    const pattern = Buffer.from([0x00, ...u32(Buffer.byteLength(name)), ...Buffer.from(name)]);
    const at = Buffer.from(out.buffer, out.byteOffset, out.byteLength).indexOf(pattern, firstImportSection.start);
    if (at < 0) throw new Error(`import ${name} not found in the 0x00 form`);
    out[at] = 0x01;
  }
  return out;
}

function outerSectionOffsets(bytes: Uint8Array): Array<{ id: number; start: number }> {
  const sections: Array<{ id: number; start: number }> = [];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos++]!;
    let size = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[pos++]!;
      size += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
    }
    sections.push({ id, start: pos });
    pos += size;
  }
  return sections;
}
