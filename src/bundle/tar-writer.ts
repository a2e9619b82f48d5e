/**
 * Writes a ustar archive of regular files as a stream of chunks, one file at a time, so a bundle
 * is never held in memory. The caller gives the order (sorted, for deterministic bytes).
 */
import { BLOCK_BYTES, encodeHeader, padding } from './ustar.js';

export interface TarFile {
  path: string;
  /** Declared in the header before the bytes are read; `read` must give exactly this many. */
  size: number;
  read(): AsyncIterable<Uint8Array>;
}

/** The archive: per file a header, its bytes and zero padding to a block; then two zero blocks. */
export async function* tarStream(files: Iterable<TarFile>): AsyncGenerator<Buffer> {
  for (const f of files) {
    yield encodeHeader({ path: f.path, type: 'file', size: f.size });
    let written = 0;
    for await (const chunk of f.read()) {
      written += chunk.byteLength;
      // A file that grew while it was read would shift every header after it.
      if (written > f.size) throw new Error(`${f.path}: more than the ${f.size} bytes declared (did it change while being packed?)`);
      yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    }
    if (written !== f.size) throw new Error(`${f.path}: ${written} bytes where ${f.size} were declared (did it change while being packed?)`);
    yield Buffer.alloc(padding(f.size));
  }
  yield Buffer.alloc(2 * BLOCK_BYTES);
}
