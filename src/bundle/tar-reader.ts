/**
 * Reads a ustar archive from a stream of chunks, one entry at a time, never holding more than a
 * chunk of file data: an entry's bytes are handed on as they arrive. Refuses, with BUNDLE_INVALID,
 * any header ustar.ts refuses, a stream that ends early (an entry shorter than its declared size,
 * no end blocks), and anything but a little zero padding after the end.
 */
import { VergeError } from '../errors.js';
import { BLOCK_BYTES, decodeHeader, isZeroBlock, padding, type TarHeader } from './ustar.js';

/** tar(1) pads an archive to a record of 20 blocks; more zeros than that after the end are refused. */
export const MAX_END_PADDING = 20 * BLOCK_BYTES;

export interface TarEntry extends TarHeader {
  /** Exactly `size` bytes, as they arrive. Read them before the next entry; what is left unread is skipped. */
  data(): AsyncGenerator<Buffer>;
}

const invalid = (message: string) => new VergeError('BUNDLE_INVALID', `bundle: ${message}`);
const truncated = (where: string) => invalid(`the archive is truncated: ${where}`);

export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source[Symbol.asyncIterator]());
  for (;;) {
    const at = r.offset;
    const block = await r.read(BLOCK_BYTES);
    if (block.length === 0) throw truncated('it ends without the two zero blocks that close a tar archive');
    if (block.length < BLOCK_BYTES) throw truncated(`it ends inside the header at byte ${at}`);
    if (isZeroBlock(block)) return await readEnd(r, at);

    const header = decodeHeader(block, at);
    const name = JSON.stringify(header.path);
    let left = header.size;
    async function* data(): AsyncGenerator<Buffer> {
      while (left > 0) {
        const chunk = await r.readSome(left);
        // A declared size the data does not have: the lie is found where the bytes run out.
        if (chunk.length === 0) throw truncated(`entry ${name} declares ${header.size} bytes but the stream ends after ${header.size - left}`);
        left -= chunk.length;
        yield chunk;
      }
    }
    yield { ...header, data };
    for await (const _ of data());
    const pad = padding(header.size);
    if ((await r.read(pad)).length < pad) throw truncated(`it ends inside the padding after entry ${name}`);
  }
}

/** After the first zero block: a second one, then at most MAX_END_PADDING zero bytes, then the end of the stream. */
async function readEnd(r: ByteReader, at: number): Promise<void> {
  const second = await r.read(BLOCK_BYTES);
  if (second.length < BLOCK_BYTES) throw truncated(`it ends inside the second of the two zero blocks that close a tar archive (at byte ${at + BLOCK_BYTES})`);
  if (!isZeroBlock(second)) throw invalid(`non-zero bytes after the zero block at byte ${at} that ends the archive (an archive ends with two zero blocks)`);
  const rest = await r.read(MAX_END_PADDING + 1);
  const garbage = rest.findIndex((b) => b !== 0);
  if (garbage !== -1) throw invalid(`non-zero bytes at byte ${at + 2 * BLOCK_BYTES + garbage}, after the end of the archive`);
  if (rest.length > MAX_END_PADDING) throw invalid(`more than ${MAX_END_PADDING} bytes of zero padding after the end of the archive at byte ${at + 2 * BLOCK_BYTES}`);
}

/** Exact reads over a stream of chunks, counting the bytes taken. */
class ByteReader {
  offset = 0;
  private pending: Buffer = Buffer.alloc(0);
  private ended = false;
  constructor(private readonly source: AsyncIterator<Buffer>) {}

  /** `n` bytes, or fewer only when the stream ends first. */
  async read(n: number): Promise<Buffer> {
    while (this.pending.length < n && (await this.pull()));
    return this.take(Math.min(n, this.pending.length));
  }

  /** Between 1 and `max` bytes as soon as there are any; empty when the stream has ended. */
  async readSome(max: number): Promise<Buffer> {
    while (this.pending.length === 0 && (await this.pull()));
    return this.take(Math.min(max, this.pending.length));
  }

  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    const next = await this.source.next();
    if (next.done) {
      this.ended = true;
      return false;
    }
    this.pending = this.pending.length === 0 ? next.value : Buffer.concat([this.pending, next.value]);
    return true;
  }

  private take(n: number): Buffer {
    const out = this.pending.subarray(0, n);
    this.pending = this.pending.subarray(n);
    this.offset += n;
    return out;
  }
}
