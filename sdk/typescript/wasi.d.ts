/**
 * Types for the WASI interfaces Verge gives a TypeScript handler (wit/world.wit), as ComponentizeJS
 * 0.23 binds them inside the component. `verge new ts-http` copies this file into src/; it is the
 * canonical copy (docs/typescript.md).
 *
 * Binding rules (the same as jco's): WIT names become camelCase; a resource is a class; `option<T>`
 * is `T | undefined`; `list<u8>` is `Uint8Array`; `s64`/`u64` are `bigint`; an enum is a union of
 * its case names; a variant is `{ tag, val }`. A function returning `result<T, E>` returns `T` and
 * throws on `err`: the thrown value carries `E` in its `payload` (see `WasiError`).
 * Dropping a resource early is `resource[Symbol.dispose]()` (needs lib "ESNext.Disposable").
 */

/**
 * The fetch event ComponentizeJS dispatches for each request (needs lib "WebWorker", which has
 * FetchEvent but types the global addEventListener for dedicated workers only).
 */
declare function addEventListener(type: 'fetch', listener: (event: FetchEvent) => void): void;

/** The shape of what a `result<_, E>` function throws. */
interface WasiError<E> extends Error {
  payload: E;
}

declare module 'wasi:keyvalue/store@0.2.0-draft2' {
  /** Thrown (as `payload`) by every call below. */
  export type Error = { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };

  /** One page of keys; `cursor` is undefined on the last page. */
  export interface KeyResponse {
    keys: string[];
    cursor?: string;
  }

  /** Opens a store granted to the component in verge.toml (`key_value_stores`); "default" always exists. */
  export function open(identifier: string): Bucket;

  export class Bucket {
    private constructor();
    get(key: string): Uint8Array | undefined;
    set(key: string, value: Uint8Array): void;
    delete(key: string): void;
    exists(key: string): boolean;
    /** Keys in UTF-8 byte order, a page at a time: pass the previous page's cursor, or undefined. */
    listKeys(cursor: string | undefined): KeyResponse;
    [Symbol.dispose](): void;
  }
}

declare module 'wasi:keyvalue/atomics@0.2.0-draft2' {
  import type { Bucket, Error } from 'wasi:keyvalue/store@0.2.0-draft2';

  export type CasError = { tag: 'store-error'; val: Error } | { tag: 'cas-failed'; val: Cas };

  /** Adds `delta` to the key's value (a missing key counts as 0) and returns the new value. */
  export function increment(bucket: Bucket, key: string, delta: bigint): bigint;

  /** Writes `value` only if the key has not changed since `cas` was made; consumes `cas`. */
  export function swap(cas: Cas, value: Uint8Array): void;

  export class Cas {
    private constructor();
    static new(bucket: Bucket, key: string): Cas;
    /** The value when the handle was made. */
    current(): Uint8Array | undefined;
    [Symbol.dispose](): void;
  }
}

declare module 'wasi:config/store@0.2.0-draft' {
  export type Error = { tag: 'upstream'; val: string } | { tag: 'io'; val: string };

  /** A variable granted in verge.toml (`variables`), or undefined if it has no value. */
  export function get(key: string): string | undefined;
  export function getAll(): Array<[string, string]>;
}

declare module 'wasi:filesystem/types@0.2.10' {
  /** Thrown (as `payload`): `no-entry`, `not-directory`, `is-directory`, `not-permitted` (`..` above `/`), `read-only`, `io` (a file changed since the version loaded), ... */
  export type ErrorCode = string;
  export type DescriptorType = 'directory' | 'regular-file';

  export interface DescriptorStat {
    type: DescriptorType;
    size: bigint;
  }

  /** A mounted file or folder; everything is read-only (docs/manifest.md, "Files"). */
  export class Descriptor {
    private constructor();
    /** Opens `path` relative to this folder: `openAt({}, 'keys/a.pem', {}, { read: true })`. */
    openAt(pathFlags: { symlinkFollow?: boolean }, path: string, openFlags: { directory?: boolean }, flags: { read?: boolean }): Descriptor;
    /** Up to `length` bytes from `offset`, and whether the end of the file was reached. */
    read(length: bigint, offset: bigint): [Uint8Array, boolean];
    stat(): DescriptorStat;
    statAt(pathFlags: { symlinkFollow?: boolean }, path: string): DescriptorStat;
    [Symbol.dispose](): void;
  }
}

declare module 'wasi:filesystem/preopens@0.2.10' {
  import type { Descriptor } from 'wasi:filesystem/types@0.2.10';

  /** `[[root, '/']]` when the component mounts files (`files` in verge.toml), else `[]`. */
  export function getDirectories(): Array<[Descriptor, string]>;
}

declare module 'wasi:logging/logging@0.1.0-draft' {
  export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'critical';

  /** One record in Verge's log, tagged with the component and request. */
  export function log(level: Level, context: string, message: string): void;
}

/**
 * Enough of wasi:http/types for a handler that exports `incomingHandler` itself instead of using
 * the fetch event: `export const incomingHandler: IncomingHandler = { handle(request, out) { ... } }`.
 */
declare module 'wasi:http/types@0.2.10' {
  export type Method =
    | { tag: 'get' }
    | { tag: 'head' }
    | { tag: 'post' }
    | { tag: 'put' }
    | { tag: 'delete' }
    | { tag: 'connect' }
    | { tag: 'options' }
    | { tag: 'trace' }
    | { tag: 'patch' }
    | { tag: 'other'; val: string };

  export type Scheme = { tag: 'HTTP' } | { tag: 'HTTPS' } | { tag: 'other'; val: string };

  /** wasi:http's error-code variant, loosely: its ~40 cases are named in the WIT. */
  export interface ErrorCode {
    tag: string;
    val?: unknown;
  }

  export type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };

  export type StreamError = { tag: 'last-operation-failed'; val: IoError } | { tag: 'closed' };

  export type Result<T, E> = { tag: 'ok'; val: T } | { tag: 'err'; val: E };

  export class IoError {
    private constructor();
    toDebugString(): string;
  }

  export class Pollable {
    private constructor();
    ready(): boolean;
    block(): void;
    [Symbol.dispose](): void;
  }

  /** Header fields. Names are strings, values bytes. Request headers are immutable (HeaderError). */
  export class Fields {
    constructor();
    static fromList(entries: Array<[string, Uint8Array]>): Fields;
    get(name: string): Uint8Array[];
    has(name: string): boolean;
    set(name: string, value: Uint8Array[]): void;
    delete(name: string): void;
    append(name: string, value: Uint8Array): void;
    entries(): Array<[string, Uint8Array]>;
    clone(): Fields;
    [Symbol.dispose](): void;
  }

  export class InputStream {
    private constructor();
    /** Up to `len` bytes, possibly none; throws StreamError `closed` at the end. */
    read(len: bigint): Uint8Array;
    /** Waits for at least one byte; throws StreamError `closed` at the end. */
    blockingRead(len: bigint): Uint8Array;
    skip(len: bigint): bigint;
    blockingSkip(len: bigint): bigint;
    subscribe(): Pollable;
    [Symbol.dispose](): void;
  }

  export class OutputStream {
    private constructor();
    checkWrite(): bigint;
    write(contents: Uint8Array): void;
    /** Writes up to 4096 bytes and flushes; call it once per 4 KiB chunk. */
    blockingWriteAndFlush(contents: Uint8Array): void;
    flush(): void;
    blockingFlush(): void;
    subscribe(): Pollable;
    writeZeroes(len: bigint): void;
    blockingWriteZeroesAndFlush(len: bigint): void;
    [Symbol.dispose](): void;
  }

  export class IncomingRequest {
    private constructor();
    method(): Method;
    /** Path and query as received, e.g. `/api/users?limit=5`. */
    pathWithQuery(): string | undefined;
    scheme(): Scheme | undefined;
    authority(): string | undefined;
    headers(): Fields;
    /** The body; may be called once. */
    consume(): IncomingBody;
    [Symbol.dispose](): void;
  }

  export class IncomingBody {
    private constructor();
    /** The body's bytes; may be called once. Drop the stream before `finish`. */
    stream(): InputStream;
    static finish(body: IncomingBody): FutureTrailers;
    [Symbol.dispose](): void;
  }

  export class FutureTrailers {
    private constructor();
    subscribe(): Pollable;
    [Symbol.dispose](): void;
  }

  export class OutgoingResponse {
    /** Status 200 until set. */
    constructor(headers: Fields);
    statusCode(): number;
    setStatusCode(statusCode: number): void;
    headers(): Fields;
    /** The body; may be called once. */
    body(): OutgoingBody;
    [Symbol.dispose](): void;
  }

  export class OutgoingBody {
    private constructor();
    /** The body's stream; may be called once. Dispose it before `finish`. */
    write(): OutputStream;
    static finish(body: OutgoingBody, trailers: Fields | undefined): void;
    [Symbol.dispose](): void;
  }

  export class ResponseOutparam {
    private constructor();
    /** Sends the response head; write the body after this. */
    static set(param: ResponseOutparam, response: Result<OutgoingResponse, ErrorCode>): void;
  }

  /** The shape of `export const incomingHandler = { handle(request, responseOut) { ... } }`. */
  export interface IncomingHandler {
    handle(request: IncomingRequest, responseOut: ResponseOutparam): void;
  }
}
