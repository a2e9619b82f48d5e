/**
 * JSON Web Token verification (RFC 7519, RFC 7515 compact form) for two algorithms: HS256 with a
 * shared secret and EdDSA with an Ed25519 public key (RFC 8037). Pure: the caller hands in the
 * time and a source of keys, so the component and the Node tests run the same code.
 *
 * The algorithm is taken from the header only to pick one of the two allowed, and each names its
 * own key: an HS256 token is never checked against the public key (the "algorithm confusion" of
 * RFC 8725, section 2.1), `none` and every other algorithm are refused before any key is read.
 * The signature is checked before the payload is looked at.
 */
import { equalBytes, hmacSha256 } from './crypto/hmac.js';
import { ed25519Verify } from './crypto/ed25519.js';
import { base64UrlDecode } from './crypto/base64.js';

export const ALGORITHMS = ['HS256', 'EdDSA'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** Limits on what a token may be, each stated in the refusal that enforces it. */
export const LIMITS = Object.freeze({
  /** A whole token, in bytes (headers of 16 KiB at the ingress leave room for little more). */
  maxTokenBytes: 8 * 1024,
  /** How far the verifier's clock may be from the issuer's, for `exp` and `nbf`. */
  clockSkewSeconds: 30,
  /** A subject travels on as a header and in key-value keys: printable ASCII, this long at most. */
  maxSubjectChars: 200,
});

/** Why a token was refused: the cases of acme:auth/verify's `error-code`. */
export type ErrorCode =
  | 'token-malformed'
  | 'algorithm-not-allowed'
  | 'signature-invalid'
  | 'token-expired'
  | 'token-not-yet-valid'
  | 'claims-invalid'
  | 'key-unavailable';

export interface Refusal {
  code: ErrorCode;
  message: string;
}

/** What a verified token says; `payload` is its whole payload as JSON text. */
export interface Claims {
  subject: string;
  algorithm: Algorithm;
  issuedAt: number | undefined;
  expiresAt: number;
  scopes: string[];
  payload: string;
}

export type Verdict = { ok: true; claims: Claims } | { ok: false; refusal: Refusal };

/** The key for an algorithm, or why it cannot be had (a missing file, a short secret). */
export type KeySource = (algorithm: Algorithm) => { ok: true; key: Uint8Array } | { ok: false; message: string };

const refuse = (code: ErrorCode, message: string): Verdict => ({ ok: false, refusal: { code, message } });
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** A segment's JSON object and its text, or undefined when it is not base64url of UTF-8 JSON of an object. */
function jsonObject(segment: string): { value: Record<string, unknown>; text: string } | undefined {
  const bytes = base64UrlDecode(segment);
  if (!bytes) return undefined;
  try {
    const text = decoder.decode(bytes);
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? { value: value as Record<string, unknown>, text } : undefined;
  } catch {
    return undefined;
  }
}

const isAlgorithm = (alg: unknown): alg is Algorithm => typeof alg === 'string' && (ALGORITHMS as readonly string[]).includes(alg);

function signatureValid(algorithm: Algorithm, key: Uint8Array, signingInput: Uint8Array, signature: Uint8Array): boolean {
  return algorithm === 'HS256' ? equalBytes(hmacSha256(key, signingInput), signature) : ed25519Verify(key, signingInput, signature);
}

/** Verifies `token` at `nowSeconds` (seconds since the epoch). */
export function verifyJwt(token: string, keys: KeySource, nowSeconds: number): Verdict {
  if (token.length > LIMITS.maxTokenBytes) return refuse('token-malformed', `the token is ${token.length} bytes; at most ${LIMITS.maxTokenBytes} are accepted`);
  const parts = token.split('.');
  if (parts.length !== 3) {
    return refuse('token-malformed', `expected a compact JWS, three base64url segments joined by "." (header.payload.signature), got ${parts.length} segment(s)`);
  }
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonObject(headerPart)?.value;
  if (!header) return refuse('token-malformed', 'the header is not base64url (unpadded, canonical) of a JSON object');
  // Before the segments are looked at: an unsigned `alg: none` token has an empty signature.
  if (!isAlgorithm(header.alg)) {
    return refuse('algorithm-not-allowed', `alg ${JSON.stringify(header.alg ?? null)} is not allowed: expected one of ${ALGORITHMS.join(', ')}`);
  }
  if (payloadPart === '' || signaturePart === '') return refuse('token-malformed', 'the payload and the signature must not be empty');
  if (header.crit !== undefined) return refuse('token-malformed', `the header's crit ${JSON.stringify(header.crit)} names extensions this verifier does not understand`);
  if (header.typ !== undefined && (typeof header.typ !== 'string' || header.typ.toUpperCase() !== 'JWT')) {
    return refuse('token-malformed', `typ ${JSON.stringify(header.typ)}: expected "JWT" or none`);
  }
  const signature = base64UrlDecode(signaturePart);
  if (!signature) return refuse('token-malformed', 'the signature is not base64url (unpadded, canonical)');
  const key = keys(header.alg);
  if (!key.ok) return refuse('key-unavailable', `no key to check ${header.alg} tokens with: ${key.message}`);
  if (!signatureValid(header.alg, key.key, encoder.encode(`${headerPart}.${payloadPart}`), signature)) {
    return refuse('signature-invalid', `the ${header.alg} signature does not match the header and payload`);
  }
  const payload = jsonObject(payloadPart);
  if (!payload) return refuse('token-malformed', 'the payload is not base64url (unpadded, canonical) of a JSON object');
  return checkClaims(payload.value, header.alg, payload.text, nowSeconds);
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const SUBJECT = /^[\x21-\x7e]+$/;

function checkClaims(payload: Record<string, unknown>, algorithm: Algorithm, payloadText: string, now: number): Verdict {
  const { sub, exp, nbf, iat, scope } = payload;
  if (typeof sub !== 'string' || sub.length > LIMITS.maxSubjectChars || !SUBJECT.test(sub)) {
    return refuse('claims-invalid', `sub must be 1 to ${LIMITS.maxSubjectChars} printable ASCII characters without spaces, got ${JSON.stringify(sub ?? null).slice(0, 80)}`);
  }
  if (!isTime(exp)) return refuse('claims-invalid', `exp (a NumericDate) is required, got ${JSON.stringify(exp ?? null)}`);
  if ((nbf !== undefined && !isTime(nbf)) || (iat !== undefined && !isTime(iat))) return refuse('claims-invalid', 'nbf and iat must be NumericDates (seconds since the epoch)');
  if (scope !== undefined && typeof scope !== 'string') return refuse('claims-invalid', 'scope must be a string of space-separated scopes');
  if (now > exp + LIMITS.clockSkewSeconds) {
    return refuse('token-expired', `the token expired at ${new Date(exp * 1000).toISOString()}, ${Math.round(now - exp)} s ago (${LIMITS.clockSkewSeconds} s of clock skew allowed)`);
  }
  if (nbf !== undefined && now + LIMITS.clockSkewSeconds < nbf) {
    return refuse('token-not-yet-valid', `the token is not valid before ${new Date(nbf * 1000).toISOString()}`);
  }
  return {
    ok: true,
    claims: {
      subject: sub,
      algorithm,
      issuedAt: iat,
      expiresAt: exp,
      scopes: scope === undefined ? [] : scope.split(' ').filter((s) => s !== ''),
      payload: payloadText,
    },
  };
}
