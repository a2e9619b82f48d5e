/**
 * Outbound HTTP for guests (`http_send` in docs/abi.md), run on the main thread.
 *
 * Every hop (the first request and each redirect) goes through the same steps:
 *   1. the URL's scheme, host and port must match `allowed_outbound_hosts` (policy.ts);
 *   2. the host is resolved once (an IP literal is taken as is) and every address is classified
 *      (resolve.ts, address.ts); unless the host was allowed *explicitly*, one non-public address
 *      refuses it;
 *   3. the connection goes to the addresses that were checked and to nothing else: the undici
 *      Client for the hop is built with a `connect.lookup` that answers with those addresses, so
 *      Node's socket never asks DNS again (no DNS rebinding between check and connect). TLS still
 *      sends SNI and verifies the certificate against the host name.
 * Redirects are followed here (undici follows none), at most `maxRedirects`; a relative Location
 * resolves against the URL of the hop that answered it, never against anything the inbound request
 * carried.
 *
 * The guest may not set hop-by-hop or framing headers: a request with one is refused with
 * INVALID_ARGUMENT (not silently dropped), see FORBIDDEN_REQUEST_HEADERS.
 *
 * Each job has its file: validate.ts (the guest's request), this one (the checks per hop, the
 * deadline, failures), resolve.ts (policy, DNS and address checks, shared with the other
 * capabilities that connect out), redirects.ts, client-pool.ts (pinned connections) and body.ts
 * (the capped read).
 */
import type { LookupAddress } from 'node:dns';
import type { Client, Pool } from 'undici';
import { OutboundError, type OutboundErrorCode } from './errors.js';
import { DEFAULT_OUTBOUND_LIMITS, type OutboundLimits, type RequestBudget } from './limits.js';
import type { OutboundPolicy } from './policy.js';
import { FORBIDDEN_REQUEST_HEADERS, validateRequest, type OutboundRequest, type ValidRequest } from './validate.js';
import { redirectedRequest } from './redirects.js';
import { closeOutboundPool, pinnedClient, pooledClient } from './client-pool.js';
import { bodyless, discard, readCapped, responseHeaders } from './body.js';
import { show } from './text.js';
import { INTERNAL_DOMAIN, isInternalHost } from '../../manifest/hosts.js';
import { checkDestination, defaultLookup, errorCode, errorMessage, type LookupFn } from './resolve.js';

export { createRequestBudget, type OutboundLimits, type RequestBudget } from './limits.js';
export { FORBIDDEN_REQUEST_HEADERS, closeOutboundPool, type OutboundRequest, type LookupFn };

export interface OutboundResponse {
  status: number;
  /** Names lower-case, in the order received; a repeated header is repeated. */
  headers: Array<[string, string]>;
  body: Uint8Array;
  /** Redirects followed to get it. */
  redirects: number;
}

/** What a socket is about to connect to (see OutboundContext.onConnect). */
export interface ConnectTarget {
  readonly protocol: 'http:' | 'https:';
  /** The host of the URL (what TLS verifies and sends as SNI). */
  readonly hostname: string;
  readonly port: number;
  /** The checked addresses handed to the socket. */
  readonly addresses: readonly string[];
}

export interface OutboundContext {
  readonly policy: OutboundPolicy;
  readonly limits?: OutboundLimits;
  /** Aborts the call (the inbound request ended). */
  readonly signal?: AbortSignal;
  /** Resolves host names; `dns.promises.lookup` when not given. Called once per hop. */
  readonly lookup?: LookupFn;
  /** Counts this call against the inbound request's budget (createRequestBudget). */
  readonly budget?: RequestBudget;
  /** PEM certificates trusted for https besides Node's bundled roots (a private CA). */
  readonly ca?: string | readonly string[];
  /**
   * Called as a socket is handed its addresses, just before it connects; throwing refuses the
   * connection (NETWORK). For audit logs and tests.
   */
  readonly onConnect?: (target: ConnectTarget) => void;
  /**
   * The W3C `traceparent` of the call's client span: sent on every hop (each one allowed by the
   * policy like the first) unless the guest set its own.
   */
  readonly traceparent?: string | undefined;
}

/**
 * Sends one outbound request for a guest and buffers the response. Throws OutboundError; an HTTP
 * error status is a response, not an error.
 */
export async function sendOutbound(req: OutboundRequest, ctx: OutboundContext): Promise<OutboundResponse> {
  ctx.budget?.take();
  const limits = ctx.limits ?? DEFAULT_OUTBOUND_LIMITS;
  const validated = validateRequest(req, limits);
  if (ctx.signal?.aborted) throw cancelled(validated.url);

  const deadline = new AbortController();
  let cause: 'timeout' | 'cancelled' | undefined;
  const timer = setTimeout(() => {
    cause ??= 'timeout';
    deadline.abort();
  }, limits.timeoutMs);
  const onCancel = (): void => {
    cause ??= 'cancelled';
    deadline.abort();
  };
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  const started = performance.now();
  let current = validated.url;
  try {
    return await follow(validated, ctx, limits, deadline.signal, started, (url) => (current = url));
  } catch (err) {
    if (cause === 'timeout') {
      throw new OutboundError('TIMEOUT', `${show(current)} did not answer within ${limits.timeoutMs} ms (the outbound timeout)`, { cause: err });
    }
    if (cause === 'cancelled') throw cancelled(current, err);
    if (err instanceof OutboundError) throw err;
    throw failure(current, err);
  } finally {
    clearTimeout(timer);
    ctx.signal?.removeEventListener('abort', onCancel);
  }
}

async function follow(
  first: ValidRequest,
  ctx: OutboundContext,
  limits: OutboundLimits,
  signal: AbortSignal,
  started: number,
  setCurrent: (url: URL) => void,
): Promise<OutboundResponse> {
  let hop = first;
  let from: URL | undefined;
  for (let redirects = 0; ; redirects++) {
    const { method, url, headers, body } = hop;
    setCurrent(url);
    const addresses = await checkHop(url, from, ctx, signal);
    const remaining = Math.max(1, limits.timeoutMs - (performance.now() - started));
    const pooled = pooledClient(url, addresses, ctx, limits);
    const client: Client | Pool = pooled ?? pinnedClient(url, addresses, ctx, remaining);
    try {
      const res = await client.request({ method, path: url.pathname + url.search, headers: withTraceparent(headers, ctx.traceparent), body, signal });
      const next = redirectedRequest(hop, res.statusCode, res.headers['location']);
      if (next) {
        discard(res.body);
        if (redirects >= limits.maxRedirects) {
          throw new OutboundError('NETWORK', `too many redirects (limit ${limits.maxRedirects}) starting at ${show(first.url)}`);
        }
        from = url;
        hop = next;
        continue;
      }
      return {
        status: res.statusCode,
        headers: responseHeaders(res.headers),
        body: await readCapped(res.body, bodyless(method, res.statusCode) ? undefined : res.headers['content-length'], url, limits.maxResponseBytes),
        redirects,
      };
    } finally {
      if (!pooled) client.destroy().catch(() => {});
    }
  }
}

function withTraceparent(headers: ReadonlyArray<readonly [string, string]>, traceparent: string | undefined): string[] {
  const flat = headers.flat();
  if (traceparent === undefined || headers.some(([name]) => name.toLowerCase() === 'traceparent')) return flat;
  flat.push('traceparent', traceparent);
  return flat;
}

/** Policy, DNS and address checks for one hop (resolve.ts); the addresses the connection may use. */
async function checkHop(url: URL, from: URL | undefined, ctx: OutboundContext, signal: AbortSignal): Promise<LookupAddress[]> {
  const what = from ? `redirect from ${show(from)} to ${show(url)}` : show(url);
  // Chained calls are answered in-process before any network; a redirect never reaches one, nor asks DNS for the name.
  if (isInternalHost(url.hostname)) throw new OutboundError('ACCESS_DENIED', `${what}: ${url.hostname} is a component of the node (${INTERNAL_DOMAIN}), reached only by a chained call, not by a redirect`);
  return checkDestination(url, ctx.policy, what, ctx.lookup ?? defaultLookup, signal);
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);

function failure(url: URL, err: unknown): OutboundError {
  const code = errorCode(err);
  const kind: OutboundErrorCode = code !== undefined && TIMEOUT_CODES.has(code) ? 'TIMEOUT' : code === 'UND_ERR_INVALID_ARG' ? 'INVALID_ARGUMENT' : 'NETWORK';
  const reason = describeFailure(code, err);
  return new OutboundError(kind, `request to ${show(url)} failed: ${reason}`, { cause: err });
}

function describeFailure(code: string | undefined, err: unknown): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED)';
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)';
    case 'UND_ERR_SOCKET':
      return `connection closed (${errorMessage(err)})`;
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return `no route to the host (${code})`;
    default:
      return code ? `${errorMessage(err)} (${code})` : errorMessage(err);
  }
}

function cancelled(url: URL, cause?: unknown): OutboundError {
  return new OutboundError('TIMEOUT', `request to ${show(url)} was cancelled: the inbound request ended`, { cause });
}
