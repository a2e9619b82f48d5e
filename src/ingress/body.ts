/**
 * Reads a request body into memory, refusing it as soon as it passes the limit: a declared
 * content-length over the limit is refused before a byte is read, a chunked body the moment the
 * running total passes it.
 */
import type { IncomingMessage } from 'node:http';
import { VergeError } from '../errors.js';

const EMPTY = new Uint8Array(0);

function tooLarge(limit: number, detail: string): VergeError {
  return new VergeError('PAYLOAD_TOO_LARGE', `the request body ${detail}; this route accepts at most ${limit} bytes`);
}

export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared === undefined && req.headers['transfer-encoding'] === undefined) return Promise.resolve(EMPTY);
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit, `declares ${declared} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        reject(tooLarge(limit, `passed ${limit} bytes while streaming`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total);
      resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}
