/**
 * auth: verifies JWTs (HS256 and EdDSA, jwt.ts) in two roles, one binary.
 *
 * - As a dependency it exports acme:auth/verify: the api calls `verify(token)` as a function,
 *   linked into the api's instance, and gets the claims or a refusal.
 * - As a route's middleware (fetch-event form) it answers 401 itself, or passes the request on to
 *   http://next.verge.internal without the token and with the verified subject and scopes as
 *   `x-verified-*` headers, which it first strips from what the client sent.
 */
import { verifyJwt, type Claims } from './jwt.js';
import { keys } from './keys.js';
import { bearerToken, unauthorized } from '../shared/http.js';

const now = (): number => Date.now() / 1000;

export const verify = {
  verify(token: string): Claims {
    const verdict = verifyJwt(token, keys, now());
    // A thrown value becomes the `err` of the result: the refusal record.
    if (!verdict.ok) throw verdict.refusal;
    return verdict.claims;
  },
};

/** Headers Verge frames itself: an outbound request may not carry them. */
const FRAMED = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'keep-alive', 'expect', 'http2-settings']);
/** What the ingress sets on every response itself. */
const NOT_RELAYED = new Set(['content-length', 'transfer-encoding', 'connection', 'x-request-id']);
const VERIFIED_PREFIX = 'x-verified-';

function passedOnHeaders(request: Request, claims: Claims): Headers {
  const headers = new Headers();
  for (const [name, value] of request.headers) {
    // The client's own x-verified-* would otherwise reach the handler as if this component set them.
    if (!FRAMED.has(name) && !name.startsWith('proxy-') && name !== 'authorization' && !name.startsWith(VERIFIED_PREFIX)) headers.append(name, value);
  }
  headers.set(`${VERIFIED_PREFIX}subject`, claims.subject);
  headers.set(`${VERIFIED_PREFIX}scopes`, claims.scopes.join(' '));
  headers.set(`${VERIFIED_PREFIX}algorithm`, claims.algorithm);
  return headers;
}

async function handle(request: Request): Promise<Response> {
  const token = bearerToken(request.headers);
  if (token === undefined) return unauthorized(undefined);
  const verdict = verifyJwt(token, keys, now());
  if (!verdict.ok) return unauthorized(verdict.refusal);
  const url = new URL(request.url);
  const body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
  const passed = await fetch(`http://next.verge.internal${url.pathname}${url.search}`, {
    method: request.method,
    headers: passedOnHeaders(request, verdict.claims),
    body,
  });
  const headers = new Headers();
  for (const [name, value] of passed.headers) if (!NOT_RELAYED.has(name)) headers.append(name, value);
  headers.set('x-verified-by', 'auth');
  return new Response(await passed.arrayBuffer(), { status: passed.status, headers });
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
