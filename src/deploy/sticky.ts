/**
 * Sticky assignment: what a deployment hashes to keep a client on one version (split.ts). The key
 * is a request header the client sends (a user id), a cookie Verge sets itself (opt-in), or the
 * client's address; without one, every request is placed on its own.
 *
 * The cookie kind needs two steps on the request path, because the first request has no cookie:
 *
 *   let key = keyFor(sticky, headers, address);
 *   let setCookie: string | undefined;
 *   if (key === undefined && sticky.kind === 'cookie') ({ key, setCookie } = newStickyCookie(sticky, { secure }));
 *
 * so the first request is placed by the id it is given, and every later one carries it.
 */
import { randomUUID } from 'node:crypto';
import { COOKIE_NAME, cookieValue, headerValue, setCookieHeader, type RequestHeaders } from './http.js';
import { describeJson, isObject, knownKeysOnly, type ProblemSink } from './problems.js';
import { OVERRIDE_COOKIE } from './override.js';

export type StickyConfig =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'client' }
  | { readonly kind: 'none' };

export const NO_STICKY: StickyConfig = Object.freeze({ kind: 'none' });
export const DEFAULT_STICKY_COOKIE = 'verge-sticky';
/** How long a browser keeps the sticky cookie: long enough that a returning user meets the same version. */
export const STICKY_COOKIE_MAX_AGE_SECONDS = 30 * 24 * 60 * 60;

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]{1,64}$/;
const KINDS = ['header', 'cookie', 'client', 'none'];

/**
 * The sticky config in `raw` (`{ "kind": "header", "name": "x-user-id" }`, `{ "kind": "cookie" }`,
 * `{ "kind": "client" }`, `{ "kind": "none" }`; absent is none), or undefined after reporting
 * every problem under `path`.
 */
export function parseSticky(raw: unknown, path: string, problems: ProblemSink): StickyConfig | undefined {
  if (raw === undefined) return NO_STICKY;
  if (!isObject(raw) || !KINDS.includes(raw.kind as string)) {
    const got = isObject(raw) ? `a kind of ${describeJson(raw.kind)}` : describeJson(raw);
    problems.add(isObject(raw) ? `${path}.kind` : path, `expected { "kind": "header", "name": … }, { "kind": "cookie" }, { "kind": "client" } or { "kind": "none" }, got ${got}`);
    return undefined;
  }
  switch (raw.kind) {
    case 'header': {
      const clean = knownKeysOnly(raw, ['kind', 'name'], path, problems);
      const name = headerName(raw.name, `${path}.name`, problems);
      return clean && name !== undefined ? Object.freeze({ kind: 'header', name }) : undefined;
    }
    case 'cookie': {
      const clean = knownKeysOnly(raw, ['kind', 'name'], path, problems);
      const name = cookieName(raw.name, `${path}.name`, problems);
      return clean && name !== undefined ? Object.freeze({ kind: 'cookie', name }) : undefined;
    }
    case 'client':
      return knownKeysOnly(raw, ['kind'], path, problems) ? Object.freeze({ kind: 'client' }) : undefined;
    default:
      return knownKeysOnly(raw, ['kind'], path, problems) ? NO_STICKY : undefined;
  }
}

function headerName(raw: unknown, path: string, problems: ProblemSink): string | undefined {
  const name = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (name === undefined || !HEADER_NAME.test(name)) {
    problems.add(path, `expected a request header name such as "x-user-id" (an HTTP token of 1 to 64 characters), got ${describeJson(raw)}`);
    return undefined;
  }
  if (name === 'cookie' || name.startsWith('x-verge-')) {
    const instead = name === 'cookie' ? 'use { "kind": "cookie", "name": … } to stick by one cookie' : 'x-verge-* headers are Verge\'s own';
    problems.add(path, `cannot stick by the ${name} header: ${instead}`);
    return undefined;
  }
  return name;
}

function cookieName(raw: unknown, path: string, problems: ProblemSink): string | undefined {
  if (raw === undefined) return DEFAULT_STICKY_COOKIE;
  if (typeof raw !== 'string' || !COOKIE_NAME.test(raw) || raw === OVERRIDE_COOKIE) {
    const why = raw === OVERRIDE_COOKIE ? ` (${OVERRIDE_COOKIE} is the override cookie)` : '';
    problems.add(path, `expected a cookie name such as "${DEFAULT_STICKY_COOKIE}" (an HTTP token of 1 to 64 characters other than "${OVERRIDE_COOKIE}"), got ${describeJson(raw)}${why}`);
    return undefined;
  }
  return raw;
}

/** The request's sticky key, or undefined when it has none (then split.ts places it at random). */
export function keyFor(config: StickyConfig, headers: RequestHeaders, clientAddress: string | undefined): string | undefined {
  switch (config.kind) {
    case 'header':
      return headerValue(headers, config.name);
    case 'cookie':
      return cookieValue(headers, config.name);
    case 'client':
      return clientAddress ? unmapped(clientAddress) : undefined;
    case 'none':
      return undefined;
  }
}

/** An IPv4 client reaching a dual-stack listener shows as ::ffff:a.b.c.d; it is the same client as a.b.c.d. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * A fresh sticky id for a request that had no cookie: the key to place this request by, and the
 * Set-Cookie that makes the client send it from now on. `secure` when the response goes over TLS.
 */
export function newStickyCookie(
  config: { readonly name: string },
  opts: { secure: boolean },
  newId: () => string = randomUUID,
): { key: string; setCookie: string } {
  const key = newId();
  return { key, setCookie: setCookieHeader(config.name, key, { maxAgeSeconds: STICKY_COOKIE_MAX_AGE_SECONDS, secure: opts.secure }) };
}
