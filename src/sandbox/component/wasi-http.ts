/**
 * wasi:http/types resources for components (the proxy world, 0.2.x). The glue jco generates
 * checks resources with `instanceof` against the classes passed in, so every resource a guest
 * can receive is one of these. Bodies are whole byte arrays behind wasi:io streams; trailers are
 * accepted and ignored (incoming requests never have any).
 */
import { VergeError } from '../../errors.js';
import { InputStream, OutputStream, Pollable, err, ok, type ByteSink, type Result } from './wasi-io.js';

export type HeaderError = { tag: 'invalid-syntax' } | { tag: 'forbidden' } | { tag: 'immutable' };
export type Method =
  | { tag: 'get' | 'head' | 'post' | 'put' | 'delete' | 'connect' | 'options' | 'trace' | 'patch' }
  | { tag: 'other'; val: string };
export type Scheme = { tag: 'HTTP' } | { tag: 'HTTPS' } | { tag: 'other'; val: string };
/** wasi:http's error-code variant; Verge produces only these cases. */
export type ErrorCode =
  | { tag: 'HTTP-request-denied' }
  | { tag: 'connection-timeout' }
  | { tag: 'destination-unavailable' }
  | { tag: 'HTTP-response-body-size'; val: bigint | undefined }
  | { tag: 'HTTP-request-URI-invalid' }
  | { tag: 'internal-error'; val: string | undefined };

/**
 * Headers a guest may not set, and that incoming requests do not carry (the authority is
 * `authority()`); the same list as wasmtime's wasi-http.
 */
export const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
  'http2-settings',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STANDARD_METHODS = new Set(['get', 'head', 'post', 'put', 'delete', 'connect', 'options', 'trace', 'patch']);

function validValue(v: Uint8Array): boolean {
  for (const b of v) if (b === 0 || b === 10 || b === 13) return false;
  return true;
}

export class Fields {
  /** [lower-cased name, value] in insertion order. */
  list: Array<[string, Uint8Array]> = [];
  immutable = false;

  static fromList(entries: Array<[string, Uint8Array]>): Result<Fields, HeaderError> {
    const f = new Fields();
    for (const [name, value] of entries) {
      const problem = f.check(name, false) ?? (validValue(value) ? undefined : ({ tag: 'invalid-syntax' } as const));
      if (problem) return err(problem);
      f.list.push([name.toLowerCase(), value]);
    }
    return ok(f);
  }

  private check(name: string, mutating = true): HeaderError | undefined {
    if (mutating && this.immutable) return { tag: 'immutable' };
    if (!TOKEN.test(name)) return { tag: 'invalid-syntax' };
    if (FORBIDDEN_HEADERS.has(name.toLowerCase())) return { tag: 'forbidden' };
    return undefined;
  }

  get(name: string): Uint8Array[] {
    const n = name.toLowerCase();
    return this.list.filter(([k]) => k === n).map(([, v]) => v);
  }
  has(name: string): boolean {
    const n = name.toLowerCase();
    return this.list.some(([k]) => k === n);
  }
  set(name: string, values: Uint8Array[]): Result<void, HeaderError> {
    const problem = this.check(name) ?? (values.every(validValue) ? undefined : ({ tag: 'invalid-syntax' } as const));
    if (problem) return err(problem);
    const n = name.toLowerCase();
    this.list = this.list.filter(([k]) => k !== n).concat(values.map((v) => [n, v] as [string, Uint8Array]));
    return ok(undefined);
  }
  delete(name: string): Result<void, HeaderError> {
    const problem = this.check(name);
    if (problem) return err(problem);
    const n = name.toLowerCase();
    this.list = this.list.filter(([k]) => k !== n);
    return ok(undefined);
  }
  append(name: string, value: Uint8Array): Result<void, HeaderError> {
    const problem = this.check(name) ?? (validValue(value) ? undefined : ({ tag: 'invalid-syntax' } as const));
    if (problem) return err(problem);
    this.list.push([name.toLowerCase(), value]);
    return ok(undefined);
  }
  entries(): Array<[string, Uint8Array]> {
    return this.list.map(([k, v]) => [k, v]);
  }
  clone(): Fields {
    const f = new Fields();
    f.list = this.list.slice();
    return f;
  }
}

const locked = (f: Fields): Fields => {
  f.immutable = true;
  return f;
};

export function methodOf(name: string): Method {
  const m = name.toLowerCase();
  return STANDARD_METHODS.has(m) ? ({ tag: m } as Method) : { tag: 'other', val: name };
}

export function methodName(m: Method): string {
  return m.tag === 'other' ? m.val : m.tag.toUpperCase();
}

export class FutureTrailers {
  private taken = false;
  subscribe(): Pollable {
    return new Pollable();
  }
  get(): Result<Result<Fields | undefined, ErrorCode>, void> | undefined {
    if (this.taken) return err(undefined);
    this.taken = true;
    return ok(ok(undefined));
  }
}

export class IncomingBody {
  private streamTaken = false;
  constructor(private readonly bytes: Uint8Array) {}
  stream(): Result<InputStream, void> {
    if (this.streamTaken) return err(undefined);
    this.streamTaken = true;
    return ok(new InputStream(this.bytes));
  }
  static finish(_body: IncomingBody): FutureTrailers {
    return new FutureTrailers();
  }
}

export interface IncomingRequestInit {
  method: Method;
  pathWithQuery: string;
  scheme: Scheme;
  authority: string;
  headers: Fields;
  body: Uint8Array;
}

export class IncomingRequest {
  private consumed = false;
  private readonly fields: Fields;
  constructor(private readonly init: IncomingRequestInit) {
    this.fields = locked(init.headers);
  }
  method(): Method {
    return this.init.method;
  }
  pathWithQuery(): string | undefined {
    return this.init.pathWithQuery;
  }
  scheme(): Scheme | undefined {
    return this.init.scheme;
  }
  authority(): string | undefined {
    return this.init.authority;
  }
  headers(): Fields {
    return this.fields;
  }
  consume(): Result<IncomingBody, void> {
    if (this.consumed) return err(undefined);
    this.consumed = true;
    return ok(new IncomingBody(this.init.body));
  }
}

/** Collects a body up to a cap; what is over the cap is refused with a sentence. */
export class BodyBuffer implements ByteSink {
  chunks: Uint8Array[] = [];
  length = 0;
  overflow: string | undefined;
  constructor(
    private readonly cap: number,
    private readonly what: string,
  ) {}
  write(bytes: Uint8Array): string | undefined {
    if (this.length + bytes.length > this.cap) {
      this.overflow = `the ${this.what} is over ${this.cap} bytes`;
      return this.overflow;
    }
    this.chunks.push(bytes.slice());
    this.length += bytes.length;
    return undefined;
  }
  bytes(): Uint8Array {
    return Buffer.concat(this.chunks, this.length);
  }
}

export class OutgoingBody {
  finished = false;
  private streamTaken = false;
  constructor(readonly buffer: BodyBuffer) {}
  write(): Result<OutputStream, void> {
    if (this.streamTaken) return err(undefined);
    this.streamTaken = true;
    return ok(new OutputStream(this.buffer));
  }
  static finish(body: OutgoingBody, _trailers: Fields | undefined): Result<void, ErrorCode> {
    body.finished = true;
    return ok(undefined);
  }
}

export class ResponseOutparam {
  response: Result<OutgoingResponse, ErrorCode> | undefined;
  static set(param: ResponseOutparam, response: Result<OutgoingResponse, ErrorCode>): void {
    if (param.response) throw new VergeError('GUEST_TRAP', 'the component called response-outparam.set twice');
    param.response = response;
  }
}

export class RequestOptions {
  private timeouts: { connect?: bigint; firstByte?: bigint; betweenBytes?: bigint } = {};
  connectTimeout(): bigint | undefined {
    return this.timeouts.connect;
  }
  setConnectTimeout(d: bigint | undefined): Result<void, void> {
    this.timeouts.connect = d;
    return ok(undefined);
  }
  firstByteTimeout(): bigint | undefined {
    return this.timeouts.firstByte;
  }
  setFirstByteTimeout(d: bigint | undefined): Result<void, void> {
    this.timeouts.firstByte = d;
    return ok(undefined);
  }
  betweenBytesTimeout(): bigint | undefined {
    return this.timeouts.betweenBytes;
  }
  setBetweenBytesTimeout(d: bigint | undefined): Result<void, void> {
    this.timeouts.betweenBytes = d;
    return ok(undefined);
  }
}

/** The caps for the bodies a guest writes, for the request being served. */
export interface BodyCaps {
  response: number;
  outgoingRequest: number;
}

/**
 * The resources whose bodies the guest writes. Their caps come from the request being served
 * (the scope's frame), so they are made once per worker around a getter rather than read from
 * module state set before each request.
 */
export function createOutgoingTypes(caps: () => BodyCaps) {
  class OutgoingResponse {
    status = 200;
    outgoingBody: OutgoingBody | undefined;
    readonly fields: Fields;
    constructor(headers: Fields) {
      this.fields = locked(headers);
    }
    statusCode(): number {
      return this.status;
    }
    setStatusCode(code: number): Result<void, void> {
      if (!Number.isInteger(code) || code < 100 || code > 999) return err(undefined);
      this.status = code;
      return ok(undefined);
    }
    headers(): Fields {
      return this.fields;
    }
    body(): Result<OutgoingBody, void> {
      if (this.outgoingBody) return err(undefined);
      this.outgoingBody = new OutgoingBody(new BodyBuffer(caps().response, 'response body'));
      return ok(this.outgoingBody);
    }
  }

  class OutgoingRequest {
    method_: Method = { tag: 'get' };
    path: string | undefined;
    scheme_: Scheme | undefined;
    authority_: string | undefined;
    outgoingBody: OutgoingBody | undefined;
    readonly fields: Fields;
    constructor(headers: Fields) {
      this.fields = locked(headers);
    }
    body(): Result<OutgoingBody, void> {
      if (this.outgoingBody) return err(undefined);
      this.outgoingBody = new OutgoingBody(new BodyBuffer(caps().outgoingRequest, 'outgoing request body'));
      return ok(this.outgoingBody);
    }
    method(): Method {
      return this.method_;
    }
    setMethod(m: Method): Result<void, void> {
      if (m.tag === 'other' && !TOKEN.test(m.val)) return err(undefined);
      this.method_ = m;
      return ok(undefined);
    }
    pathWithQuery(): string | undefined {
      return this.path;
    }
    setPathWithQuery(p: string | undefined): Result<void, void> {
      this.path = p;
      return ok(undefined);
    }
    scheme(): Scheme | undefined {
      return this.scheme_;
    }
    setScheme(s: Scheme | undefined): Result<void, void> {
      this.scheme_ = s;
      return ok(undefined);
    }
    authority(): string | undefined {
      return this.authority_;
    }
    setAuthority(a: string | undefined): Result<void, void> {
      this.authority_ = a;
      return ok(undefined);
    }
    headers(): Fields {
      return this.fields;
    }
  }

  return { OutgoingResponse, OutgoingRequest };
}

export type OutgoingTypes = ReturnType<typeof createOutgoingTypes>;
export type OutgoingResponse = InstanceType<OutgoingTypes['OutgoingResponse']>;
export type OutgoingRequest = InstanceType<OutgoingTypes['OutgoingRequest']>;

export class IncomingResponse {
  private consumed = false;
  private readonly fields: Fields;
  constructor(
    private readonly statusCode: number,
    headers: Fields,
    private readonly body: Uint8Array,
  ) {
    this.fields = locked(headers);
  }
  status(): number {
    return this.statusCode;
  }
  headers(): Fields {
    return this.fields;
  }
  consume(): Result<IncomingBody, void> {
    if (this.consumed) return err(undefined);
    this.consumed = true;
    return ok(new IncomingBody(this.body));
  }
}

/**
 * An outbound call that runs when the guest first asks for its result: by then the guest has
 * written and finished the request body (wasi:http lets it call `handle` first).
 */
export class FutureIncomingResponse {
  private result: Result<IncomingResponse, ErrorCode> | undefined;
  private taken = false;
  constructor(
    private readonly send: () => Result<IncomingResponse, ErrorCode>,
    /** The request is complete (its body finished, or it has none): the call can go. */
    private readonly requestComplete: () => boolean,
    /**
     * The inbound request that made the call is still being served. A reused instance that keeps
     * the future into its next request gets an error: the call belongs to (and was billed to) the
     * request that started it.
     */
    private readonly owner: { readonly live: boolean } = { live: true },
  ) {}
  subscribe(): Pollable {
    return new Pollable(undefined, this.requestComplete);
  }
  get(): Result<Result<IncomingResponse, ErrorCode>, void> | undefined {
    if (this.taken) return err(undefined);
    this.taken = true;
    if (!this.owner.live) return ok(err({ tag: 'internal-error', val: 'this outgoing request was started by an earlier inbound request, which has ended' }));
    this.result ??= this.send();
    return ok(this.result);
  }
}

/** The headers a guest set, as flat name/value strings for the ingress, without those the ingress owns (framing, x-request-id). */
const dec = new TextDecoder();

export function flattenHeaders(fields: Fields, dropped: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const [k, v] of fields.list) if (!dropped.has(k)) out.push(k, dec.decode(v));
  return out;
}
