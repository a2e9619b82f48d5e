/**
 * The standard interfaces a wasi:http component imports, bound to Verge's capabilities: one
 * implementation (GuestScope: grants, stores, the host bridge, the log budget), two bindings
 * (this one and verge:v1). Keys are the unversioned interface names jco's glue asks for.
 * Everything here runs in a worker, for the request the scope is serving.
 */
import { randomFillSync } from 'node:crypto';
import { HostCallError } from '../capabilities/abi.js';
import type { GuestScope } from '../capabilities/guest-scope.js';
import type { LogLevelName } from '../capabilities/logging/levels.js';
import type { LineSink } from '../guest/output.js';
import type { KvOp } from '../dispatch/protocol.js';
import { InputStream, IoError, OutputStream, Pollable, err, ok, poll, type Result } from './wasi-io.js';
import {
  FORBIDDEN_HEADERS,
  Fields,
  FutureIncomingResponse,
  FutureTrailers,
  IncomingBody,
  IncomingRequest,
  IncomingResponse,
  OutgoingBody,
  OutgoingRequest,
  OutgoingResponse,
  RequestOptions,
  ResponseOutparam,
  methodName,
  type ErrorCode,
} from './wasi-http.js';

/** Thrown by wasi:cli/exit; the runner tells a clean exit after a response from a failure. */
export class ComponentExit extends Error {
  constructor(readonly code: number) {
    super(`the component called wasi:cli/exit with ${code === 0 ? 'success' : 'an error'}`);
  }
}

type KvError = { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };

/** The page size for wasi:keyvalue list-keys; the cursor is the last key returned. */
export const LIST_KEYS_PAGE = 1000;

const LOG_LEVELS: Record<string, LogLevelName> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'error',
};

export interface ComponentIo {
  stdout: LineSink;
  stderr: LineSink;
}

export function createComponentImports(scope: GuestScope, io: ComponentIo): Record<string, Record<string, unknown>> {
  const enc = new TextEncoder();
  const dec = new TextDecoder();

  /** Runs a capability call; a refusal is logged (naming what was refused) and returned as the interface's error. */
  function guarded<T, E>(api: string, fn: () => T, toError: (e: HostCallError) => E): Result<T, E> {
    try {
      return ok(fn());
    } catch (e) {
      if (e instanceof HostCallError) {
        scope.report(api, e);
        return err(toError(e));
      }
      throw e;
    }
  }

  // ---- wasi:keyvalue
  const kvError = (e: HostCallError): KvError =>
    e.status === 'ACCESS_DENIED' ? { tag: 'access-denied' } : { tag: 'other', val: `${e.status}: ${e.message}` };
  const kv = <T>(api: string, bucket: KvBucket, op: KvOp) => guarded(api, () => scope.kvStore(bucket.name, op) as T, kvError);

  /** A store by name: each operation is checked against the grants of the request running it. */
  class KvBucket {
    constructor(readonly name: string) {}
    get(key: string) {
      return kv<Uint8Array | undefined>('wasi:keyvalue/store.get', this, { method: 'get', key });
    }
    set(key: string, value: Uint8Array) {
      return kv<void>('wasi:keyvalue/store.set', this, { method: 'set', key, value });
    }
    delete(key: string) {
      const r = kv<boolean>('wasi:keyvalue/store.delete', this, { method: 'delete', key });
      return r.tag === 'ok' ? ok(undefined) : r;
    }
    exists(key: string) {
      return kv<boolean>('wasi:keyvalue/store.exists', this, { method: 'exists', key });
    }
    listKeys(cursor: string | undefined) {
      const r = kv<string[]>('wasi:keyvalue/store.list-keys', this, { method: 'listKeys', prefix: '', after: cursor, limit: LIST_KEYS_PAGE });
      if (r.tag === 'err') return r;
      return ok({ keys: r.val, cursor: r.val.length === LIST_KEYS_PAGE ? r.val[r.val.length - 1] : undefined });
    }
  }

  class KvCas {
    constructor(
      readonly bucket: KvBucket,
      readonly key: string,
      readonly current_: Uint8Array | undefined,
    ) {}
    static new(bucket: KvBucket, key: string): Result<KvCas, KvError> {
      const r = bucket.get(key);
      return r.tag === 'ok' ? ok(new KvCas(bucket, key, r.val)) : r;
    }
    current(): Result<Uint8Array | undefined, KvError> {
      return ok(this.current_);
    }
  }

  const open = (identifier: string): Result<KvBucket, KvError> =>
    guarded('wasi:keyvalue/store.open', () => (scope.checkStore(identifier), new KvBucket(identifier)), kvError);

  // ---- outbound HTTP
  const httpError = (e: HostCallError): ErrorCode => {
    switch (e.status) {
      case 'ACCESS_DENIED':
        return { tag: 'HTTP-request-denied' };
      case 'TIMEOUT':
        return { tag: 'connection-timeout' };
      case 'NETWORK':
        return { tag: 'destination-unavailable' };
      case 'INVALID_ARGUMENT':
        return { tag: 'HTTP-request-URI-invalid' };
      default:
        return { tag: 'internal-error', val: `${e.status}: ${e.message}` };
    }
  };

  /** The body is whole by now, so the host frames it: a guest's content-length (ComponentizeJS sets one) is dropped. */
  const send = (request: OutgoingRequest): Result<IncomingResponse, ErrorCode> => {
    const scheme = request.scheme_ === undefined ? 'https' : request.scheme_.tag === 'other' ? request.scheme_.val : request.scheme_.tag.toLowerCase();
    const url = `${scheme}://${request.authority_ ?? ''}${request.path ?? '/'}`;
    const body = request.outgoingBody;
    if (body?.buffer.overflow) return err({ tag: 'internal-error', val: body.buffer.overflow });
    const r = guarded(
      'wasi:http/outgoing-handler.handle',
      () => {
        const handle = scope.send({ method: methodName(request.method_), url, headers: request.fields.list.flatMap(([k, v]): Array<[string, string]> => (k === 'content-length' ? [] : [[k, dec.decode(v)]])), body: body?.buffer.bytes() ?? new Uint8Array(0) });
        const response = scope.response(handle);
        scope.closeResponse(handle);
        return response;
      },
      httpError,
    );
    if (r.tag === 'err') return r;
    const headers = new Fields();
    for (const [k, v] of r.val.headers) if (!FORBIDDEN_HEADERS.has(k.toLowerCase())) headers.list.push([k.toLowerCase(), enc.encode(v)]);
    return ok(new IncomingResponse(r.val.status, headers, r.val.body));
  };

  // ---- clocks
  const wallNow = () => {
    const ms = Date.now();
    return { seconds: BigInt(Math.floor(ms / 1000)), nanoseconds: (ms % 1000) * 1_000_000 };
  };

  const stdoutStream = () => new OutputStream({ write: (b) => (io.stdout.write(b), undefined) });
  const stderrStream = () => new OutputStream({ write: (b) => (io.stderr.write(b), undefined) });
  const denied = () => err('access-denied');
  class Descriptor {}
  class DirectoryEntryStream {}
  class TerminalInput {}
  class TerminalOutput {}
  class Network {}
  class TcpSocket {}
  class UdpSocket {}
  class IncomingDatagramStream {}
  class OutgoingDatagramStream {}
  class ResolveAddressStream {}

  const randomBytes = (len: bigint) => {
    const out = new Uint8Array(Number(len));
    randomFillSync(out);
    return out;
  };
  const randomU64 = () => new BigUint64Array(randomFillSync(new Uint8Array(8)).buffer)[0]!;

  return {
    'wasi:io/error': { Error: IoError },
    'wasi:io/poll': { Pollable, poll },
    'wasi:io/streams': { InputStream, OutputStream },
    'wasi:cli/environment': { getEnvironment: () => [], getArguments: () => [], initialCwd: () => undefined },
    'wasi:cli/exit': {
      exit: (status: Result<void, void>) => {
        throw new ComponentExit(status.tag === 'ok' ? 0 : 1);
      },
      exitWithCode: (code: number) => {
        throw new ComponentExit(code);
      },
    },
    'wasi:cli/stdin': { getStdin: () => new InputStream(new Uint8Array(0)) },
    'wasi:cli/stdout': { getStdout: stdoutStream },
    'wasi:cli/stderr': { getStderr: stderrStream },
    'wasi:cli/terminal-input': { TerminalInput },
    'wasi:cli/terminal-output': { TerminalOutput },
    'wasi:cli/terminal-stdin': { getTerminalStdin: () => undefined },
    'wasi:cli/terminal-stdout': { getTerminalStdout: () => undefined },
    'wasi:cli/terminal-stderr': { getTerminalStderr: () => undefined },
    'wasi:clocks/monotonic-clock': {
      now: () => process.hrtime.bigint(),
      resolution: () => 1n,
      subscribeInstant: (when: bigint) => new Pollable(when),
      subscribeDuration: (ns: bigint) => new Pollable(process.hrtime.bigint() + ns),
    },
    'wasi:clocks/wall-clock': { now: wallNow, resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }) },
    'wasi:random/random': { getRandomBytes: randomBytes, getRandomU64: randomU64 },
    'wasi:random/insecure': { getInsecureRandomBytes: randomBytes, getInsecureRandomU64: randomU64 },
    'wasi:random/insecure-seed': { insecureSeed: () => [randomU64(), randomU64()] },
    // No filesystem: no preopened directories, so no descriptor is ever handed out.
    'wasi:filesystem/preopens': { getDirectories: () => [] },
    'wasi:filesystem/types': { Descriptor, DirectoryEntryStream, filesystemErrorCode: () => undefined },
    // Sockets are denied: every way to get one answers access-denied.
    'wasi:sockets/network': { Network },
    'wasi:sockets/instance-network': { instanceNetwork: () => new Network() },
    'wasi:sockets/tcp': { TcpSocket },
    'wasi:sockets/tcp-create-socket': { createTcpSocket: denied },
    'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
    'wasi:sockets/udp-create-socket': { createUdpSocket: denied },
    'wasi:sockets/ip-name-lookup': { ResolveAddressStream, resolveAddresses: denied },
    'wasi:http/types': {
      Fields,
      FutureIncomingResponse,
      FutureTrailers,
      IncomingBody,
      IncomingRequest,
      IncomingResponse,
      OutgoingBody,
      OutgoingRequest,
      OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode: () => undefined,
    },
    'wasi:http/outgoing-handler': {
      handle: (request: OutgoingRequest, _options: RequestOptions | undefined): Result<FutureIncomingResponse, ErrorCode> =>
        ok(new FutureIncomingResponse(() => send(request), () => request.outgoingBody === undefined || request.outgoingBody.finished)),
    },
    'wasi:keyvalue/store': { open, Bucket: KvBucket },
    'wasi:keyvalue/atomics': {
      increment: (bucket: KvBucket, key: string, delta: bigint) => kv<bigint>('wasi:keyvalue/atomics.increment', bucket, { method: 'increment', key, delta }),
      Cas: KvCas,
      swap: (cas: KvCas, value: Uint8Array) => {
        const r = kv<boolean>('wasi:keyvalue/atomics.swap', cas.bucket, { method: 'compareAndSwap', key: cas.key, expected: cas.current_ ?? null, value });
        if (r.tag === 'err') return err({ tag: 'store-error', val: r.val });
        return r.val ? ok(undefined) : err({ tag: 'cas-failed', val: cas });
      },
    },
    'wasi:keyvalue/batch': {
      getMany: (bucket: KvBucket, keys: string[]) => {
        const out: Array<[string, Uint8Array] | undefined> = [];
        for (const key of keys) {
          const r = bucket.get(key);
          if (r.tag === 'err') return r;
          out.push(r.val === undefined ? undefined : [key, r.val]);
        }
        return ok(out);
      },
      setMany: (bucket: KvBucket, entries: Array<[string, Uint8Array]>) => {
        for (const [key, value] of entries) {
          const r = bucket.set(key, value);
          if (r.tag === 'err') return r;
        }
        return ok(undefined);
      },
      deleteMany: (bucket: KvBucket, keys: string[]) => {
        for (const key of keys) {
          const r = bucket.delete(key);
          if (r.tag === 'err') return r;
        }
        return ok(undefined);
      },
    },
    'wasi:config/store': {
      // Values never reach a log: a refusal names the key only.
      get: (key: string) => guarded('wasi:config/store.get', () => scope.variable(key), (e) => ({ tag: 'upstream', val: e.message })),
      getAll: () => ok(scope.grants.variables.flatMap((v) => (v.value === undefined ? [] : [[v.name, v.value] as [string, string]]))),
    },
    'wasi:logging/logging': {
      log: (level: string, context: string, message: string) => scope.log(LOG_LEVELS[level] ?? 'info', context ? `${context}: ${message}` : message, 'guest'),
    },
  };
}

/** Interfaces `createComponentImports` provides; a component importing anything else fails at load. */
export const PROVIDED_INTERFACES: ReadonlySet<string> = new Set([
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/stderr',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:cli/terminal-stderr',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:random/random',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
  'wasi:sockets/network',
  'wasi:sockets/instance-network',
  'wasi:sockets/tcp',
  'wasi:sockets/tcp-create-socket',
  'wasi:sockets/udp',
  'wasi:sockets/udp-create-socket',
  'wasi:sockets/ip-name-lookup',
  'wasi:http/types',
  'wasi:http/outgoing-handler',
  'wasi:keyvalue/store',
  'wasi:keyvalue/atomics',
  'wasi:keyvalue/batch',
  'wasi:config/store',
  'wasi:logging/logging',
]);
