/**
 * What a module signature covers, for core modules and components alike (both are a header and a
 * sequence of sections with the same framing): the hash of every section after an embedded
 * signature section, or of every section when the signature is detached. The 8-byte header is not
 * hashed (the spec starts at the first section); only the two known headers are accepted.
 *
 * Sections are hashed in their canonical encoding (minimal LEB128 for the section size and a
 * custom section's name length), as wasmsign2 does when it signs: a module whose sizes are padded
 * hashes the same as its canonical form, which carries the same meaning.
 */
import { createHash } from 'node:crypto';
import { VergeError } from '../errors.js';
import { Reader, encodeU32, isComponentBinary, isCoreModule } from '../wasm/binary.js';
import { SIGNATURE_SECTION } from './format.js';

const SECTION_CUSTOM = 0;
const HEADER_BYTES = 8;

export interface RawSection {
  id: number;
  /** The payload: [start, end) of the module. */
  start: number;
  end: number;
  /** Custom sections: the name, and the length of its UTF-8 bytes. */
  name: string | undefined;
  nameLength: number;
  /** Where the bytes after the (re-encoded) size and name length begin: the name for a custom section, the payload otherwise. */
  body: number;
}

export interface ModuleSections {
  bytes: Uint8Array;
  sections: RawSection[];
}

/** Splits a module or component into sections; MODULE_INVALID when the framing is broken. */
export function readSections(bytes: Uint8Array, label: string): ModuleSections {
  const fail = (detail: string) => new VergeError('MODULE_INVALID', `${label}: not a valid WebAssembly module or component: ${detail}`);
  if (!isCoreModule(bytes) && !isComponentBinary(bytes)) throw fail('it does not start with the header of a core module or a component');
  const sections: RawSection[] = [];
  const r = new Reader(bytes, HEADER_BYTES, bytes.length, fail);
  while (r.pos < bytes.length) {
    const id = r.byte();
    if (id >= 0x80) throw fail(`section id 0x${id.toString(16)} at offset ${r.pos - 1}`);
    const size = r.u32();
    const start = r.pos;
    r.take(size);
    const section: RawSection = { id, start, end: r.pos, name: undefined, nameLength: 0, body: start };
    if (id === SECTION_CUSTOM) {
      const inner = new Reader(bytes, start, r.pos, fail);
      const nameAt = inner.pos;
      section.name = inner.name();
      section.nameLength = inner.pos - nameAt - lebLength(bytes, nameAt);
      section.body = nameAt + lebLength(bytes, nameAt);
    }
    sections.push(section);
  }
  return { bytes, sections };
}

/** Bytes taken by the LEB128 integer at `at` (already validated by a Reader). */
function lebLength(bytes: Uint8Array, at: number): number {
  let n = 1;
  while (bytes[at + n - 1]! & 0x80) n++;
  return n;
}

export const isSignatureSection = (s: RawSection) => s.id === SECTION_CUSTOM && s.name === SIGNATURE_SECTION;

/** The section id, the minimal size and, for a custom section, the minimal name length. */
function canonicalHeader(s: RawSection): Uint8Array {
  const bodyLength = s.end - s.body;
  if (s.id !== SECTION_CUSTOM) return Uint8Array.from([s.id, ...encodeU32(bodyLength)]);
  const nameLength = encodeU32(s.nameLength);
  return Uint8Array.from([SECTION_CUSTOM, ...encodeU32(nameLength.length + bodyLength), ...nameLength]);
}

/** SHA-256 over `sections` in their canonical encoding. */
export function hashSections(m: ModuleSections, sections: readonly RawSection[]): Buffer {
  const h = createHash('sha256');
  for (const s of sections) {
    h.update(canonicalHeader(s));
    h.update(m.bytes.subarray(s.body, s.end));
  }
  return h.digest();
}

/** The signature data a module embeds (its first section), or undefined. A signature section anywhere else is refused. */
export function embeddedSignature(m: ModuleSections, label: string): { data: Uint8Array; covered: RawSection[] } | undefined {
  const misplaced = m.sections.findIndex((s, i) => i > 0 && isSignatureSection(s));
  if (misplaced !== -1) {
    throw new VergeError('SIGNATURE_INVALID', `${label}: section ${misplaced} is a "${SIGNATURE_SECTION}" section; signature data must be in the first section, and only there`);
  }
  const first = m.sections[0];
  if (!first || !isSignatureSection(first)) return undefined;
  return { data: m.bytes.subarray(first.body + first.nameLength, first.end), covered: m.sections.slice(1) };
}

/** The module with `data` as its first section, replacing an embedded signature it had; the other sections in canonical form. */
export function embedSignature(m: ModuleSections, data: Uint8Array): Uint8Array {
  const name = new TextEncoder().encode(SIGNATURE_SECTION);
  const payload = [...encodeU32(name.length), ...name];
  const parts: Uint8Array[] = [m.bytes.subarray(0, HEADER_BYTES), Uint8Array.from([SECTION_CUSTOM, ...encodeU32(payload.length + data.length), ...payload]), data];
  for (const s of m.sections) {
    if (s === m.sections[0] && isSignatureSection(s)) continue;
    parts.push(canonicalHeader(s), m.bytes.subarray(s.body, s.end));
  }
  return Buffer.concat(parts);
}
