/**
 * Serving a request with a wasi:http component inside a worker: jco's glue (imported once per
 * worker) links the precompiled core modules into an instance; the request becomes an
 * incoming-request resource, `handle` runs to completion (host calls are synchronous), and the
 * response the guest set becomes a GuestResponse.
 *
 * Instances: by default each request gets a fresh one, and the next is made right after a
 * response is posted, off the request's latency. With `instance_reuse = N` one instance serves
 * up to N requests, one at a time; an instance that failed a request is never reused.
 */
import { VergeError } from '../errors.js';
import type { ComponentModuleSpec, GuestRequest, GuestResponse } from '../dispatch/protocol.js';
import { HOP_BY_HOP } from '../guest/cgi.js';
import { ComponentExit } from './imports.js';
import { Fields, IncomingRequest, ResponseOutparam, bodyCaps, flattenHeaders, methodOf, FORBIDDEN_HEADERS } from './wasi-http.js';

type Instantiate = (getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, unknown>) => Record<string, unknown>;

interface Handler {
  handle(request: IncomingRequest, out: ResponseOutparam): void;
}

interface Instance {
  handler: Handler;
  served: number;
}

export class ComponentRunner {
  private next: Instance | undefined;

  private constructor(
    readonly spec: ComponentModuleSpec,
    private readonly instantiateGlue: Instantiate,
    private readonly imports: Record<string, unknown>,
  ) {}

  /** Imports the component's glue (ESM, from the transpile cache). */
  static async load(spec: ComponentModuleSpec, imports: Record<string, unknown>): Promise<ComponentRunner> {
    const glue = (await import(spec.glue)) as { instantiate: Instantiate };
    return new ComponentRunner(spec, glue.instantiate, imports);
  }

  private instantiate(): Instance {
    const exports = this.instantiateGlue((name) => {
      const m = this.spec.coreModules[name];
      if (!m) throw new VergeError('INTERNAL', `component ${this.spec.component}: the glue asked for core module ${name}, which the transpile did not produce`);
      return m;
    }, this.imports);
    const handler = exports[this.spec.handlerExport] as Handler | undefined;
    if (!handler || typeof handler.handle !== 'function') {
      throw new VergeError('INTERNAL', `component ${this.spec.component}: the instance has no ${this.spec.handlerExport}.handle`);
    }
    return { handler, served: 0 };
  }

  /** Serves one request; throws on a trap, an exit without a response, or a bad response. */
  run(req: GuestRequest): GuestResponse {
    const instance = this.next ?? this.instantiate();
    this.next = undefined;
    instance.served++;
    bodyCaps.response = this.spec.maxResponseBytes;
    const out = new ResponseOutparam();
    try {
      instance.handler.handle(incomingRequest(req), out);
    } catch (e) {
      // A clean exit after the response was set is a finished request; anything else fails it.
      if (!(e instanceof ComponentExit && e.code === 0 && out.response)) {
        // A guest that traps because its body write was refused is over its response cap.
        const body = out.response?.tag === 'ok' ? out.response.val.outgoingBody : undefined;
        if (body?.buffer.overflow) throw tooLarge();
        throw e;
      }
    }
    const response = responseOf(out);
    // Kept for the next request only after a success, and while it has requests left.
    if (instance.served < this.spec.instanceReuse) this.next = instance;
    return response;
  }

  /** After a response is posted: have an instance ready for the next request. */
  prepareNext(): void {
    if (!this.next) this.next = this.instantiate();
  }
}

function incomingRequest(req: GuestRequest): IncomingRequest {
  const enc = new TextEncoder();
  const headers = new Fields();
  let host: string | undefined;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!;
    if (name === 'host') host ??= value;
    if (FORBIDDEN_HEADERS.has(name)) continue;
    headers.list.push([name, enc.encode(value)]);
  }
  return new IncomingRequest({
    method: methodOf(req.method),
    pathWithQuery: req.url,
    scheme: { tag: 'HTTP' },
    authority: host ?? `${req.serverName}:${req.serverPort}`,
    headers,
    body: req.body,
  });
}

function tooLarge(): VergeError {
  return new VergeError('RESPONSE_TOO_LARGE', `the component wrote a response body over the component's max_response_bytes (${bodyCaps.response} bytes)`);
}

function responseOf(out: ResponseOutparam): GuestResponse {
  const set = out.response;
  if (!set) throw new VergeError('GUEST_BAD_RESPONSE', 'the component returned from handle without setting a response');
  if (set.tag === 'err') {
    throw new VergeError('GUEST_BAD_RESPONSE', `the component answered with the error ${JSON.stringify(set.val, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
  const response = set.val;
  const body = response.outgoingBody;
  if (body?.buffer.overflow) throw tooLarge();
  return { status: response.status, headers: flattenHeaders(response.fields, HOP_BY_HOP), body: body ? body.buffer.bytes() : new Uint8Array(0) };
}
