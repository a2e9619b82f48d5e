/**
 * The three servers of the hello benchmark (Verge, a plain node:http peer, workerd), how each is
 * started on a port, and the check that each answers GET /api/hello with the same body. Shared by
 * the load, start-up and first-request parts.
 */
import path from 'node:path';
import { childEnv, startChild, type Child } from './proc.js';

export const HELLO_PATH = '/api/hello';
export const HELLO_BODY = '{"message":"Hello from Wasm!"}';

/** Where the harness finds what it runs, and what every part shares (log, notes, child tracking). */
export interface HarnessContext {
  root: string;
  /** bench/.work: generated modules and the workerd install. */
  work: string;
  vergeBin: string;
  helloDir: string;
  nodePeer: string;
  workerdConfig: string;
  workerdBin: string;
  /** Verge's --workers flag, or none for its default. */
  vergeWorkerArgs: string[];
  vergeWorkers: number;
  log: (line: string) => void;
  notes: string[];
  track: (c: Child) => Child;
  stop: (c: Child) => Promise<void>;
}

export type ServerKey = 'verge' | 'node' | 'workerd';

export interface ServerDef {
  key: ServerKey;
  label: string;
  /** `env`: variables to add to the child's environment (Verge's variants). */
  start(port: number, manifest?: string, env?: Record<string, string>): Child;
  /** A stderr line the server prints once it listens, when it has one. */
  readyLine: RegExp | undefined;
}

export function createServers(h: HarnessContext): ServerDef[] {
  return [
    {
      key: 'verge',
      label: 'Verge',
      start: (port, manifest = h.helloDir, env = {}) =>
        startChild('verge', process.execPath, [h.vergeBin, 'up', manifest, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn', ...h.vergeWorkerArgs], { cwd: h.root, env: childEnv(env) }),
      readyLine: /^Serving /,
    },
    {
      key: 'node',
      label: 'node:http',
      start: (port) => startChild('node:http', process.execPath, [h.nodePeer, `127.0.0.1:${port}`], { cwd: h.root }),
      readyLine: /^node:http peer on /,
    },
    {
      key: 'workerd',
      label: 'workerd',
      start: (port) => startChild('workerd', h.workerdBin, ['serve', h.workerdConfig, '--socket-addr', `http=127.0.0.1:${port}`], { cwd: h.root }),
      readyLine: undefined,
    },
  ];
}

export function helloWasm(h: HarnessContext): string {
  return path.join(h.helloDir, 'build', 'hello.wasm');
}

export function verifyHello(label: string, r: { status: number; headers: Record<string, unknown>; body: string }): void {
  const type = String(r.headers['content-type'] ?? '');
  if (r.status !== 200 || r.body !== HELLO_BODY || !type.startsWith('application/json')) {
    throw new Error(`${label}: GET ${HELLO_PATH} answered ${r.status} (${type}) ${JSON.stringify(r.body.slice(0, 300))}, expected 200 application/json ${HELLO_BODY}`);
  }
}
