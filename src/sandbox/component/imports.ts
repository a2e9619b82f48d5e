/**
 * The wasi:* interfaces a component imports that are not capabilities: io, clocks, random, cli,
 * the wasi:http types, and the filesystem and sockets (both denied). Capabilities bind their own
 * interfaces (each capability folder's bindings/component.ts); capabilities/guest-imports.ts assembles both.
 * Keys are the unversioned interface names jco's glue asks for.
 */
import { randomFillSync } from 'node:crypto';
import type { LineSink } from '../output.js';
import { InputStream, IoError, OutputStream, Pollable, err, poll, type Result } from './wasi-io.js';
import {
  Fields,
  FutureIncomingResponse,
  FutureTrailers,
  IncomingBody,
  IncomingRequest,
  IncomingResponse,
  OutgoingBody,
  RequestOptions,
  ResponseOutparam,
  type OutgoingTypes,
} from './wasi-http.js';

/** Thrown by wasi:cli/exit; the runner tells a clean exit after a response from a failure. */
export class ComponentExit extends Error {
  constructor(readonly code: number) {
    super(`the component called wasi:cli/exit with ${code === 0 ? 'success' : 'an error'}`);
  }
}

export interface ComponentIo {
  stdout: LineSink;
  stderr: LineSink;
}

export function createBaseImports(io: ComponentIo, http: OutgoingTypes): Record<string, Record<string, unknown>> {
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
      OutgoingRequest: http.OutgoingRequest,
      OutgoingResponse: http.OutgoingResponse,
      RequestOptions,
      ResponseOutparam,
      httpErrorCode: () => undefined,
    },
  };
}

/** Interfaces `createBaseImports` provides (capabilities add theirs). */
export const BASE_INTERFACES: ReadonlySet<string> = new Set([
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
]);
