/** A pass-through stream that counts bytes and, given a cap, fails the moment the count passes it. */
import { Transform, type TransformCallback } from 'node:stream';

export class ByteCounter extends Transform {
  bytes = 0;
  constructor(
    private readonly max = Infinity,
    private readonly over: (max: number) => Error = (max) => new Error(`more than ${max} bytes`),
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.max) done(this.over(this.max));
    else done(null, chunk);
  }
}
