/**
 * RESP2, the Redis wire protocol: commands out as arrays of bulk strings, replies in through an
 * incremental reader that enforces a size cap while it reads. The cap is checked on each bulk
 * string's and array's declared length before its bytes arrive, so a reply over it is refused
 * without being buffered; the connection that received it cannot be resynchronised and is
 * dropped by its owner.
 *
 * Verge speaks RESP2 only (no HELLO 3): every reply a guest can get maps to nil, status,
 * integer, bulk bytes or arrays of them, and an error reply is a value, not an exception.
 */

/** A simple-string reply (`+OK`). */
export class RespStatus {
  constructor(readonly text: string) {}
}

/** An error reply (`-WRONGTYPE ...`): the server refused the command. */
export class RespError {
  constructor(readonly text: string) {}

  /** The first word, by Redis convention the error's kind: ERR, WRONGTYPE, NOAUTH, ... */
  get code(): string {
    const space = this.text.indexOf(' ');
    return space === -1 ? this.text : this.text.slice(0, space);
  }
}

export type RespValue = null | bigint | Uint8Array | RespStatus | RespError | RespValue[];

/** The reply broke the protocol or a cap; the connection it came on is unusable. */
export class RespReadError extends Error {
  constructor(
    message: string,
    readonly kind: 'protocol' | 'too-large',
  ) {
    super(message);
    this.name = 'RespReadError';
  }
}

const CRLF = Buffer.from('\r\n');
/** A type line (`$123`, `:42`, `+OK`, `-ERR ...`) longer than this is not Redis talking. */
const MAX_LINE_BYTES = 64 * 1024;
/** Bytes a value costs against the cap besides its payload: its type line, at least. */
const VALUE_OVERHEAD = 3;

type Arg = string | Uint8Array;

/** The bytes of one command: `*N\r\n` then `$len\r\nbytes\r\n` per argument. */
export function encodeCommand(args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = typeof arg === 'string' ? Buffer.from(arg, 'utf8') : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength);
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, CRLF);
  }
  return Buffer.concat(parts);
}

/** The byte length encodeCommand would produce, without encoding (for a size check before sending). */
export function commandBytes(args: readonly Arg[]): number {
  let n = `*${args.length}\r\n`.length;
  for (const arg of args) {
    const len = typeof arg === 'string' ? Buffer.byteLength(arg) : arg.byteLength;
    n += `$${len}\r\n`.length + len + 2;
  }
  return n;
}

interface OpenArray {
  items: RespValue[];
  left: number;
}

interface OpenBulk {
  /** Bytes still to come, the trailing CRLF included. */
  left: number;
  size: number;
  parts: Buffer[];
}

/**
 * Reads replies from a byte stream. `push` each chunk as it arrives; every complete top-level
 * reply is handed to `onReply`, in order. Throws RespReadError when the stream is not RESP2 or a
 * reply is larger than `maxReplyBytes`.
 */
export class RespReader {
  private tail: Buffer = Buffer.alloc(0);
  private readonly stack: OpenArray[] = [];
  private bulk: OpenBulk | undefined;
  /** Bytes of the reply being read so far, against the cap. */
  private replyBytes = 0;
  private failed: RespReadError | undefined;

  constructor(
    private readonly maxReplyBytes: number,
    private readonly onReply: (value: RespValue) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    try {
      this.read(chunk);
    } catch (err) {
      if (err instanceof RespReadError) this.failed = err;
      throw err;
    }
  }

  private read(chunk: Buffer): void {
    let buf = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
    let at = 0;
    while (at < buf.length) {
      const bulk = this.bulk;
      if (bulk) {
        const take = Math.min(bulk.left, buf.length - at);
        bulk.parts.push(buf.subarray(at, at + take));
        bulk.left -= take;
        at += take;
        if (bulk.left > 0) break;
        this.bulk = undefined;
        const whole = Buffer.concat(bulk.parts, bulk.size + 2);
        if (whole[bulk.size] !== 0x0d || whole[bulk.size + 1] !== 0x0a) throw new RespReadError('a bulk string did not end with CRLF', 'protocol');
        // A copy: the value must not keep the socket's chunk alive, nor let a caller reach it.
        this.emit(new Uint8Array(whole.subarray(0, bulk.size)));
        continue;
      }
      const eol = buf.indexOf(CRLF, at);
      if (eol === -1) {
        if (buf.length - at > MAX_LINE_BYTES) throw new RespReadError(`a reply line is longer than ${MAX_LINE_BYTES} bytes`, 'protocol');
        break;
      }
      const type = buf[at]!;
      const line = buf.toString('utf8', at + 1, eol);
      at = eol + 2;
      this.count(line.length + VALUE_OVERHEAD);
      switch (type) {
        case 0x2b: // '+'
          this.emit(new RespStatus(line));
          break;
        case 0x2d: // '-'
          this.emit(new RespError(line));
          break;
        case 0x3a: // ':'
          this.emit(integer(line));
          break;
        case 0x24: {
          // '$'
          const n = length(line);
          if (n === -1) this.emit(null);
          else {
            this.count(n);
            this.bulk = { left: n + 2, size: n, parts: [] };
          }
          break;
        }
        case 0x2a: {
          // '*'
          const n = length(line);
          if (n === -1) this.emit(null);
          else if (n === 0) this.emit([]);
          else {
            // Each element costs at least its type line: a huge declared count is refused before any arrives.
            this.count(n * VALUE_OVERHEAD);
            this.stack.push({ items: [], left: n });
          }
          break;
        }
        default:
          throw new RespReadError(`unexpected reply type byte 0x${type.toString(16).padStart(2, '0')}`, 'protocol');
      }
    }
    buf = buf.subarray(at);
    // What is left is part of one line: copied so the chunk it came in can go.
    this.tail = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
  }

  private count(bytes: number): void {
    this.replyBytes += bytes;
    if (this.replyBytes > this.maxReplyBytes) {
      throw new RespReadError(`the reply is larger than ${this.maxReplyBytes} bytes (the reply cap)`, 'too-large');
    }
  }

  private emit(value: RespValue): void {
    let v = value;
    for (;;) {
      const top = this.stack[this.stack.length - 1];
      if (!top) {
        this.replyBytes = 0;
        this.onReply(v);
        return;
      }
      top.items.push(v);
      top.left -= 1;
      if (top.left > 0) return;
      this.stack.pop();
      v = top.items;
    }
  }
}

function length(line: string): number {
  if (!/^(-1|0|[1-9][0-9]{0,15})$/.test(line)) throw new RespReadError(`a length is not a number: ${JSON.stringify(line.slice(0, 40))}`, 'protocol');
  return Number(line);
}

function integer(line: string): bigint {
  if (!/^-?[0-9]{1,20}$/.test(line)) throw new RespReadError(`an integer reply is not a number: ${JSON.stringify(line.slice(0, 40))}`, 'protocol');
  return BigInt(line);
}
