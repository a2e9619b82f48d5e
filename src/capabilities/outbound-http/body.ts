/** Response bodies: read whole up to a cap (the call fails past it), or thrown away. */
import { OutboundError } from './errors.js';
import { bytes, show } from './text.js';

export type Body = AsyncIterable<Buffer> & { destroy(): unknown; on(event: 'error', listener: (err: Error) => void): unknown };

/** Drops a response body we will not read (undici reports an unread, destroyed body as an error). */
export function discard(body: Body): void {
  body.on('error', () => {});
  body.destroy();
}

export async function readCapped(body: Body, contentLength: unknown, url: URL, max: number): Promise<Uint8Array> {
  const over = (): OutboundError =>
    new OutboundError('LIMIT_EXCEEDED', `response from ${show(url)} is larger than the limit of ${bytes(max)} (maxResponseBytes)`);
  if (typeof contentLength === 'string' && /^[0-9]+$/.test(contentLength) && Number(contentLength) > max) {
    discard(body);
    throw over();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > max) {
      discard(body);
      throw over();
    }
    chunks.push(chunk);
  }
  // A fresh ArrayBuffer of exactly this size (Buffer.concat may hand out a slice of Node's shared
  // pool, which a structured clone or a transfer to the worker would copy or detach whole).
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** A response that has no body whatever its content-length says. */
export function bodyless(method: string, status: number): boolean {
  return method === 'HEAD' || status === 204 || status === 304;
}

/** Flattens undici's header object; values back from bytes (latin1) to UTF-8 text. */
export function responseHeaders(headers: Record<string, string | string[] | undefined>): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) out.push([name.toLowerCase(), Buffer.from(v, 'latin1').toString('utf8')]);
  }
  return out;
}
