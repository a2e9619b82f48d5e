/**
 * What the auth middleware and the api share about HTTP (fetch-event form): the bearer token of a
 * request, JSON answers, and the answer to a refused token — 401 with a `www-authenticate`
 * challenge (RFC 6750) for the caller's mistakes, 500 when the verifier has no key.
 */
export const REALM = 'verge-composed';

/** What a refusal says, from the verifier itself or through acme:auth/verify. */
export interface RefusalLike {
  code: string;
  message: string;
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(value), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** `UNAUTHORIZED`-style codes from WIT's kebab-case ones: `token-expired` is `TOKEN_EXPIRED`. */
export const errorCode = (code: string): string => code.replace(/-/g, '_').toUpperCase();

/** The token of `Authorization: Bearer TOKEN` (scheme case-insensitive), or undefined. */
export function bearerToken(headers: Headers): string | undefined {
  const m = /^Bearer +([^ ]+) *$/i.exec(headers.get('authorization') ?? '');
  return m?.[1];
}

/** The answer to a request without a token (`refusal` undefined) or with a refused one. */
export function unauthorized(refusal: RefusalLike | undefined): Response {
  if (refusal === undefined) {
    return json(401, { error: 'TOKEN_MISSING', message: 'send Authorization: Bearer <JWT> (HS256 or EdDSA)' }, { 'www-authenticate': `Bearer realm="${REALM}"` });
  }
  if (refusal.code === 'key-unavailable') return json(500, { error: 'KEY_UNAVAILABLE', message: refusal.message });
  // The description is a quoted-string of printable ASCII: no quotes, backslashes or other characters.
  const description = refusal.message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, '?');
  return json(401, { error: errorCode(refusal.code), message: refusal.message }, { 'www-authenticate': `Bearer realm="${REALM}", error="invalid_token", error_description="${description}"` });
}
