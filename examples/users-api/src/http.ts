/**
 * Small synchronous helpers over wasi:http/types for a handler written in the explicit
 * `incomingHandler.handle(request, responseOut)` form: read the method, path, headers and a
 * size-capped body; answer with JSON (or nothing) and finish the body.
 *
 * Every resource taken here is dropped here, in child-before-parent order, so an instance that
 * serves many requests (`instance_reuse`) does not accumulate handles.
 */
import {
  Fields,
  IncomingBody,
  OutgoingBody,
  OutgoingResponse,
  ResponseOutparam,
  type IncomingRequest,
  type Method,
} from 'wasi:http/types@0.2.10';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** wasi:io `blocking-write-and-flush` accepts at most 4096 bytes per call. */
const WRITE_CHUNK_BYTES = 4096;
const READ_CHUNK_BYTES = 16384n;

export type HttpMethod = string;

/** The request method in upper case (`GET`, `POST`, or an extension method as sent). */
export function methodOf(request: IncomingRequest): HttpMethod {
  const m: Method = request.method();
  return m.tag === 'other' ? m.val : m.tag.toUpperCase();
}

/** The path without the query string; `/` when the request has none. */
export function pathOf(request: IncomingRequest): string {
  const pathWithQuery = request.pathWithQuery() ?? '/';
  const q = pathWithQuery.indexOf('?');
  return q === -1 ? pathWithQuery : pathWithQuery.slice(0, q);
}

/** The first value of a request header (name case-insensitive), decoded as UTF-8. */
export function headerOf(request: IncomingRequest, name: string): string | undefined {
  const fields = request.headers();
  try {
    const values = fields.get(name.toLowerCase());
    return values.length === 0 ? undefined : decoder.decode(values[0]);
  } finally {
    fields[Symbol.dispose]();
  }
}

export type BodyResult = { ok: true; bytes: Uint8Array } | { ok: false; reason: 'too-large'; limit: number };

/**
 * Reads the whole request body, refusing it as soon as it is known to exceed `maxBytes`
 * (from `content-length`, or while reading when the length is not declared).
 */
export function readBody(request: IncomingRequest, maxBytes: number): BodyResult {
  const declared = headerOf(request, 'content-length');
  if (declared !== undefined && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    return { ok: false, reason: 'too-large', limit: maxBytes };
  }
  const body = request.consume();
  const stream = body.stream();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let tooLarge = false;
  try {
    for (;;) {
      let chunk: Uint8Array;
      try {
        chunk = stream.blockingRead(READ_CHUNK_BYTES);
      } catch (e) {
        if (isStreamClosed(e)) break;
        throw e;
      }
      total += chunk.length;
      if (total > maxBytes) {
        tooLarge = true;
        break;
      }
      chunks.push(chunk);
    }
  } finally {
    stream[Symbol.dispose]();
    IncomingBody.finish(body)[Symbol.dispose]();
  }
  if (tooLarge) return { ok: false, reason: 'too-large', limit: maxBytes };
  return { ok: true, bytes: concat(chunks, total) };
}

/** Decodes UTF-8 strictly: `undefined` for invalid bytes. */
export function decodeUtf8(bytes: Uint8Array): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

export type HeaderList = ReadonlyArray<readonly [string, string]>;

/** Answers `status` with `value` as JSON (`content-type: application/json`). */
export function sendJson(out: ResponseOutparam, status: number, value: unknown, headers: HeaderList = []): void {
  const bytes = encoder.encode(JSON.stringify(value));
  send(out, status, [['content-type', 'application/json'], ['content-length', String(bytes.length)], ...headers], bytes);
}

/** Answers `status` with no body (204, say); still `content-type: application/json`, as every answer of this API. */
export function sendEmpty(out: ResponseOutparam, status: number, headers: HeaderList = []): void {
  send(out, status, [['content-type', 'application/json'], ...headers], undefined);
}

function send(out: ResponseOutparam, status: number, headers: HeaderList, bytes: Uint8Array | undefined): void {
  const fields = Fields.fromList(headers.map(([k, v]) => [k, encoder.encode(v)]));
  const response = new OutgoingResponse(fields);
  response.setStatusCode(status);
  const body = response.body();
  ResponseOutparam.set(out, { tag: 'ok', val: response });
  if (bytes !== undefined && bytes.length > 0) {
    const stream = body.write();
    try {
      for (let at = 0; at < bytes.length; at += WRITE_CHUNK_BYTES) {
        stream.blockingWriteAndFlush(bytes.subarray(at, at + WRITE_CHUNK_BYTES));
      }
    } finally {
      stream[Symbol.dispose]();
    }
  }
  OutgoingBody.finish(body, undefined);
}

/** The `payload` of an error thrown by a host call (ComponentizeJS puts a WIT error value there). */
export function errorPayload(e: unknown): unknown {
  return typeof e === 'object' && e !== null && 'payload' in e ? (e as { payload: unknown }).payload : e;
}

function isStreamClosed(e: unknown): boolean {
  const p = errorPayload(e);
  return typeof p === 'object' && p !== null && (p as { tag?: unknown }).tag === 'closed';
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}
