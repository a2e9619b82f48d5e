/**
 * One POSIX ustar header block, written and read. Only the subset bundles use: regular files and
 * folders, names up to 255 bytes (prefix + name), sizes in octal. Everything else a tar may hold
 * (links, devices, pax and GNU extensions, base-256 numbers) is refused by name, so nothing can
 * mean more than this code understands.
 */
import { VergeError } from '../errors.js';
import { entryPathProblem } from './entry-path.js';

export const BLOCK_BYTES = 512;
/** A size field holds 11 octal digits. */
const MAX_SIZE = 8 ** 11 - 1;
const NAME_BYTES = 100;
const PREFIX_BYTES = 155;

export type EntryType = 'file' | 'directory';

export interface TarHeader {
  /** Without the trailing "/" a folder's name has in the archive. */
  path: string;
  type: EntryType;
  size: number;
}

// [offset, length] of each field (POSIX.1-1988 ustar).
const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  checksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const satisfies Record<string, readonly [number, number]>;

type Field = keyof typeof FIELD;

const FILE_FLAGS = new Set(['0', '\0']);
const DIRECTORY_FLAG = '5';
const REFUSED_TYPES: Record<string, string> = {
  '1': 'a hard link',
  '2': 'a symbolic link',
  '3': 'a character device',
  '4': 'a block device',
  '6': 'a FIFO',
  '7': 'a contiguous file',
};
const EXTENSION_TYPES: Record<string, string> = {
  x: 'a pax extended header',
  g: 'a pax global header',
  L: 'a GNU long name',
  K: 'a GNU long link name',
  S: 'a GNU sparse file',
  D: 'a GNU dump directory',
  M: 'a GNU multi-volume entry',
  V: 'a GNU volume label',
};

/** Zero bytes after `size` bytes of data, up to the next block boundary. */
export function padding(size: number): number {
  return (BLOCK_BYTES - (size % BLOCK_BYTES)) % BLOCK_BYTES;
}

// ---- writing ----

/** The header block for one entry; fixed mode, owner and time so the same files give the same bytes. */
export function encodeHeader(h: TarHeader): Buffer {
  const problem = entryPathProblem(h.path);
  if (problem !== undefined) throw new Error(`tar entry ${JSON.stringify(h.path)} ${problem}`);
  if (!Number.isSafeInteger(h.size) || h.size < 0 || h.size > MAX_SIZE) throw new Error(`tar entry ${JSON.stringify(h.path)}: size ${h.size} does not fit a ustar header`);
  const block = Buffer.alloc(BLOCK_BYTES);
  const [prefix, name] = splitName(h.type === 'directory' ? `${h.path}/` : h.path);
  put(block, 'name', name);
  put(block, 'mode', octal(h.type === 'directory' ? 0o755 : 0o644, 8));
  put(block, 'uid', octal(0, 8));
  put(block, 'gid', octal(0, 8));
  put(block, 'size', octal(h.size, 12));
  put(block, 'mtime', octal(0, 12));
  put(block, 'typeflag', h.type === 'directory' ? DIRECTORY_FLAG : '0');
  put(block, 'magic', 'ustar\0');
  put(block, 'version', '00');
  put(block, 'devmajor', octal(0, 8));
  put(block, 'devminor', octal(0, 8));
  put(block, 'prefix', prefix);
  // Six digits, NUL, space: what tar(1) writes.
  put(block, 'checksum', `${checksumOf(block).toString(8).padStart(6, '0')}\0 `);
  return block;
}

/** A path over 100 bytes goes in two parts, split at a "/": prefix (up to 155 bytes) and name (up to 100). */
function splitName(full: string): [prefix: string, name: string] {
  const bytes = Buffer.byteLength(full);
  if (bytes <= NAME_BYTES) return ['', full];
  for (let i = full.indexOf('/'); i !== -1; i = full.indexOf('/', i + 1)) {
    const prefix = full.slice(0, i);
    const name = full.slice(i + 1);
    if (Buffer.byteLength(prefix) <= PREFIX_BYTES && name !== '' && Buffer.byteLength(name) <= NAME_BYTES) return [prefix, name];
  }
  throw new Error(`tar entry ${JSON.stringify(full)}: a path of ${bytes} bytes does not fit a ustar header (at most ${PREFIX_BYTES} bytes of folders and a ${NAME_BYTES}-byte name)`);
}

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function put(block: Buffer, field: Field, text: string): void {
  const [offset, length] = FIELD[field];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > length) throw new Error(`tar header field ${field}: ${bytes.length} bytes do not fit in ${length}`);
  bytes.copy(block, offset);
}

/** The sum of the header's bytes with the checksum field counted as eight spaces. */
function checksumOf(block: Buffer): number {
  const [offset, length] = FIELD.checksum;
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK_BYTES; i++) if (i < offset || i >= offset + length) sum += block[i]!;
  return sum;
}

// ---- reading ----

export function isZeroBlock(block: Buffer): boolean {
  return block.every((b) => b === 0);
}

/**
 * Reads one header block, or refuses it with BUNDLE_INVALID naming the entry (by byte offset, and
 * by name when it has one) and the rule it breaks.
 */
export function decodeHeader(block: Buffer, offset: number): TarHeader {
  const rawName = text(block, 'prefix') ? `${text(block, 'prefix')}/${text(block, 'name')}` : text(block, 'name');
  const label = `entry at byte ${offset}${rawName ? ` (${JSON.stringify(rawName)})` : ''}`;
  const refuse = (rule: string) => new VergeError('BUNDLE_INVALID', `bundle ${label}: ${rule}`);

  const stored = parseOctal(field(block, 'checksum'));
  const actual = checksumOf(block);
  if (stored === undefined) throw refuse('the header checksum field is not an octal number (a corrupt header, or not a tar archive)');
  if (stored !== actual) throw refuse(`the header checksum is wrong (stored ${stored}, the header sums to ${actual}): the header is corrupt`);

  const magic = field(block, 'magic').toString('latin1');
  const version = field(block, 'version').toString('latin1');
  if (magic === 'ustar ' && version === ' \0') throw refuse('old GNU tar headers are not supported: expected POSIX ustar (magic "ustar\\0", version "00")');
  if (magic !== 'ustar\0' || version !== '00') throw refuse('not a POSIX ustar header (magic "ustar\\0", version "00" expected)');

  const flag = String.fromCharCode(block[FIELD.typeflag[0]]!);
  let type: EntryType;
  if (FILE_FLAGS.has(flag)) type = 'file';
  else if (flag === DIRECTORY_FLAG) type = 'directory';
  else if (REFUSED_TYPES[flag]) throw refuse(`is ${REFUSED_TYPES[flag]}: a bundle holds only regular files and folders`);
  else if (EXTENSION_TYPES[flag]) throw refuse(`is ${EXTENSION_TYPES[flag]}: pax and GNU extension headers are not supported (bundles are plain ustar)`);
  else throw refuse(`has the unknown entry type ${JSON.stringify(flag)}: a bundle holds only regular files ("0") and folders ("5")`);

  const name = decodeName(block, refuse);
  const path = type === 'directory' && name.endsWith('/') ? name.slice(0, -1) : name;
  const problem = entryPathProblem(path);
  if (problem !== undefined) throw refuse(`its path ${problem}`);

  const sizeField = field(block, 'size');
  if ((sizeField[0]! & 0x80) !== 0) throw refuse('its size is in base-256 form, which is not supported (bundles are far below 8 GiB)');
  const size = parseOctal(sizeField);
  if (size === undefined) throw refuse('its size field is not an octal number');
  if (type === 'directory' && size !== 0) throw refuse(`is a folder with a size of ${size} bytes: folders carry no data`);
  return { path, type, size };
}

function field(block: Buffer, name: Field): Buffer {
  const [offset, length] = FIELD[name];
  return block.subarray(offset, offset + length);
}

/** A field's text up to its first NUL, for messages only (never trusted). */
function text(block: Buffer, name: Field): string {
  const bytes = field(block, name);
  const end = bytes.indexOf(0);
  return bytes.subarray(0, end === -1 ? bytes.length : end).toString('utf8');
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function decodeName(block: Buffer, refuse: (rule: string) => VergeError): string {
  const parts: string[] = [];
  for (const name of ['prefix', 'name'] as const) {
    const bytes = field(block, name);
    const end = bytes.indexOf(0);
    // Readers differ on what follows a NUL; a name that hides bytes there is refused.
    if (end !== -1 && bytes.subarray(end).some((b) => b !== 0)) throw refuse(`its ${name} field has a NUL followed by more characters`);
    try {
      parts.push(UTF8.decode(bytes.subarray(0, end === -1 ? bytes.length : end)));
    } catch {
      throw refuse(`its ${name} field is not valid UTF-8`);
    }
  }
  const [prefix, name] = parts as [string, string];
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** Octal digits, optionally padded with leading spaces and ended by NULs or spaces; undefined for anything else. */
function parseOctal(bytes: Buffer): number | undefined {
  const m = /^ *([0-7]+)[ \0]*$/.exec(bytes.toString('latin1'));
  if (!m) return undefined;
  const n = parseInt(m[1]!, 8);
  return Number.isSafeInteger(n) ? n : undefined;
}
