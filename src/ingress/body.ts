/**
 * Reads a request body into memory, refusing it as soon as it passes the limit: a declared
 * content-length over the limit is refused before a byte is read, a body without one the moment
 * the running total passes it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { VergeError } from '../errors.js';

const EMPTY = new Uint8Array(0);

/** An HTTP/1.1 or HTTP/2 request as node's compatibility APIs give it. */
export interface BodySource extends Readable {
  readonly headers: IncomingHttpHeaders;
}

export interface BodyOptions {
  /** Whether a body follows the headers: HTTP/1.1 says so with content-length or transfer-encoding, HTTP/2 by not ending the stream with its headers. */
  present: boolean;
  /** Bound on the time to receive it, where node does not enforce one itself (HTTP/2). */
  timeoutMs?: number | undefined;
}

function tooLarge(limit: number, detail: string): VergeError {
  return new VergeError('PAYLOAD_TOO_LARGE', `the request body ${detail}; this route accepts at most ${limit} bytes`);
}

export function readBody(req: BodySource, limit: number, opts: BodyOptions): Promise<Uint8Array> {
  if (!opts.present) return Promise.resolve(EMPTY);
  const declared = req.headers['content-length'];
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
    // A reset request (HTTP/2 says so with 'aborted' and may never end the request) must not reach the guest with the part of its body that came.
    const onAborted = () => {
      cleanup();
      reject(new VergeError('BAD_REQUEST', `the client reset the request after ${total} bytes of its body`));
    };
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            cleanup();
            reject(new VergeError('REQUEST_TIMEOUT', `the request body was not received within ${opts.timeoutMs} ms of its headers`));
          }, opts.timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onAborted);
      req.off('close', onAborted);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onAborted);
    req.on('close', onAborted);
  });
}
