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
 * PostgreSQL (docs/data.md), Spin's interface: `Connection.open("main")` for a database granted in
 * `databases`, or a postgres:// URL allowed by `allowed_outbound_hosts`. Parameters are data,
 * never spliced into the statement: write `$1`, `$2`.
 */
declare module 'spin:postgres/postgres@4.1.0' {
  export type RangeBoundKind = 'inclusive' | 'exclusive';
  export interface Interval { micros: bigint; days: number; months: number }
  export type ParameterValue =
    | { tag: 'boolean'; val: boolean }
    | { tag: 'int8' | 'int16' | 'int32'; val: number }
    | { tag: 'int64'; val: bigint }
    | { tag: 'floating32' | 'floating64'; val: number }
    | { tag: 'str' | 'uuid' | 'decimal'; val: string }
    | { tag: 'binary' | 'jsonb'; val: Uint8Array }
    | { tag: 'date'; val: [number, number, number] }
    | { tag: 'time'; val: [number, number, number, number] }
    | { tag: 'datetime'; val: [number, number, number, number, number, number, number] }
    | { tag: 'timestamp'; val: bigint }
    | { tag: 'range-int32'; val: [[number, RangeBoundKind] | undefined, [number, RangeBoundKind] | undefined] }
    | { tag: 'range-int64'; val: [[bigint, RangeBoundKind] | undefined, [bigint, RangeBoundKind] | undefined] }
    | { tag: 'range-decimal'; val: [[string, RangeBoundKind] | undefined, [string, RangeBoundKind] | undefined] }
    | { tag: 'array-int32'; val: Array<number | undefined> }
    | { tag: 'array-int64'; val: Array<bigint | undefined> }
    | { tag: 'array-decimal' | 'array-str'; val: Array<string | undefined> }
    | { tag: 'interval'; val: Interval }
    | { tag: 'db-null' };
  export type DbValue = ParameterValue | { tag: 'unsupported'; val: Uint8Array };
  export type DbDataType = { tag: Exclude<ParameterValue['tag'], 'db-null'> } | { tag: 'other'; val: string };
  export interface Column { name: string; dataType: DbDataType }
  export interface RowSet { columns: Column[]; rows: DbValue[][] }
  export interface DbError { asText: string; severity: string; code: string; message: string; detail: string | undefined; extras: Array<[string, string]> }
  /** Thrown (as `payload`) by every call below; Verge's own refusals start with the verge:v1 status ("ACCESS_DENIED: ..."). */
  export type Error =
    | { tag: 'connection-failed' | 'bad-parameter' | 'value-conversion-failed' | 'other'; val: string }
    | { tag: 'query-failed'; val: { tag: 'text'; val: string } | { tag: 'db-error'; val: DbError } };

  export class Connection {
    private constructor();
    static open(address: string): Connection;
    query(statement: string, params: ParameterValue[]): RowSet;
    /** The number of rows affected. */
    execute(statement: string, params: ParameterValue[]): bigint;
    [Symbol.dispose](): void;
  }

  export class ConnectionBuilder {
    constructor(address: string);
    setCaRoot(certificate: string): void;
    build(): Connection;
    [Symbol.dispose](): void;
  }
}

/**
 * Spin's Redis interface (docs/data.md): `Connection.open` takes a `[redis.NAME]` granted in
 * verge.toml (`redis = ["cache"]`) or a redis:// address allowed by `allowed_outbound_hosts`.
 * Errors are thrown as ComponentErrors whose payload is an `Error`.
 */
declare module 'fermyon:spin/redis@2.0.0' {
  export type Payload = Uint8Array;
  export type Error = { tag: 'invalid-address' } | { tag: 'too-many-connections' } | { tag: 'type-error' } | { tag: 'other'; val: string };
  export type RedisParameter = { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Payload };
  export type RedisResult = { tag: 'nil' } | { tag: 'status'; val: string } | { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Payload };

  export class Connection {
    private constructor();
    static open(address: string): Connection;
    publish(channel: string, payload: Payload): void;
    get(key: string): Payload | undefined;
    set(key: string, value: Payload): void;
    incr(key: string): bigint;
    /** Removes the keys; the number removed. */
    del(keys: string[]): number;
    sadd(key: string, values: string[]): number;
    smembers(key: string): string[];
    srem(key: string, values: string[]): number;
    /** An allow-listed command (docs/data.md); the reply flattened into a list. */
    execute(command: string, args: RedisParameter[]): RedisResult[];
    [Symbol.dispose](): void;
  }
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
