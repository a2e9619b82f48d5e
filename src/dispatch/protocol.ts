/**
 * Every message that crosses between the main thread and a worker. Requests and their answers
 * are matched by `id` (the request id); a message for an id the receiver does not expect is
 * dropped, which is what happens to the late answer of a worker that was already replaced.
 */
import type { ErrorCode } from '../errors.js';

export interface ModuleSpec {
  component: string;
  module: WebAssembly.Module;
  /** Present when the module has linear memory (supplied by the worker, per instance). */
  memory: { initialPages: number; maximumPages: number } | undefined;
  maxResponseBytes: number;
}

/** What a guest needs to know about its request; the worker turns it into a CGI environment. */
export interface GuestRequest {
  id: string;
  component: string;
  method: string;
  /** The request target as received: path and query. */
  url: string;
  httpVersion: string;
  /** node's rawHeaders: name, value, name, value, ... */
  rawHeaders: string[];
  remoteAddr: string;
  serverName: string;
  serverPort: string;
  route: string;
  scriptName: string;
  pathInfo: string;
  params: Array<[string, string]>;
  body: Uint8Array;
}

export type ToWorker =
  | { t: 'load'; modules: ModuleSpec[] }
  /** deadlineAt: Date.now() after which the worker answers DEADLINE_EXCEEDED without running the guest. */
  | { t: 'run'; request: GuestRequest; deadlineAt: number };

export interface GuestResponse {
  status: number;
  /** name, value, name, value, ... as the guest wrote them (hop-by-hop headers removed). */
  headers: string[];
  body: Uint8Array;
}

export type FromWorker =
  | { t: 'ready' }
  | { t: 'done'; id: string; response: GuestResponse }
  | { t: 'fail'; id: string; code: ErrorCode; message: string }
  | { t: 'log'; id: string; stream: 'stderr'; line: string };
