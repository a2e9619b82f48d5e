/**
 * Hand-built tar archives for hostile-bundle tests, written here without src/bundle's encoder so
 * a test can say anything a header can say: any name, type flag or magic, a size that lies, a
 * wrong checksum.
 */
import { gzipSync } from 'node:zlib';

export interface RawHeader {
  name: string;
  prefix?: string;
  /** The type flag; default "0" (a regular file). */
  type?: string;
  /** The declared size; default the data's length. */
  size?: number;
  /** Raw bytes for the size field instead of octal digits (base-256, letters). */
  sizeField?: Buffer;
  /** Raw bytes for the name field (to put bytes after a NUL, or invalid UTF-8). */
  nameField?: Buffer;
  linkname?: string;
  /** Default "ustar\0" and "00" (POSIX). */
  magic?: string;
  version?: string;
  /** Added to the right checksum, to store a wrong one. */
  checksumError?: number;
}

const BLOCK = 512;

export function rawHeader(h: RawHeader, dataLength = 0): Buffer {
  const b = Buffer.alloc(BLOCK);
  const put = (offset: number, value: string | Buffer) => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value).copy(b, offset);
  put(0, h.nameField ?? h.name);
  put(100, '0000644\0');
  put(108, '0000000\0');
  put(116, '0000000\0');
  put(124, h.sizeField ?? `${(h.size ?? dataLength).toString(8).padStart(11, '0')}\0`);
  put(136, '00000000000\0');
  put(156, h.type ?? '0');
  put(157, h.linkname ?? '');
  put(257, h.magic ?? 'ustar\0');
  put(263, h.version ?? '00');
  put(345, h.prefix ?? '');
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += b[i]!;
  put(148, `${(sum + (h.checksumError ?? 0)).toString(8).padStart(6, '0')}\0 `);
  return b;
}

/** A header, the data, and zero padding to the next block. */
export function rawEntry(h: RawHeader, data: string | Buffer = ''): Buffer {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  return Buffer.concat([rawHeader(h, bytes.length), bytes, Buffer.alloc((BLOCK - (bytes.length % BLOCK)) % BLOCK)]);
}

/** The two zero blocks that end an archive. */
export const END_BLOCKS = Buffer.alloc(2 * BLOCK);

/** Entries, then the end blocks, gzipped: a .vbundle. */
export function rawBundle(...entries: Buffer[]): Buffer {
  return gzipSync(Buffer.concat([...entries, END_BLOCKS]));
}

/** The smallest valid app: a manifest naming one module, and the module. */
export const MINIMAL_MANIFEST = '[application]\nname = "tiny"\n\n[[route]]\npath = "/..."\ncomponent = "web"\n\n[component.web]\nsource = "web.wasm"\n';
export const MINIMAL_MODULE = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);

export function minimalEntries(): Buffer[] {
  return [rawEntry({ name: 'verge.toml' }, MINIMAL_MANIFEST), rawEntry({ name: 'web.wasm' }, MINIMAL_MODULE)];
}
