/**
 * Keys and tokens for the example's tests, made by node:crypto: an HS256 secret, an Ed25519 pair,
 * and a minting function that can also write what no honest issuer would (another algorithm in
 * the header than the one that signed, no signature, a changed payload).
 */
import { createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

export interface TestKeys {
  /** The HS256 secret, as VERGE_VAR_JWT_SECRET. */
  secret: string;
  privateKey: KeyObject;
  /** The public key as the app reads it from keys/ed25519.pub. */
  publicPem: string;
}

export function makeKeys(): TestKeys {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { secret: randomBytes(32).toString('hex'), privateKey, publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

export const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Claims valid for an hour, for `sub`, with `extra` added or replaced. */
export function claims(sub: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return { sub, scope: 'profile:read profile:write', iat: now, exp: now + 3600, ...extra };
}

export interface MintOptions {
  /** What the header says; default the algorithm that signs. */
  header?: Record<string, unknown>;
  /** How the signature is made: HS256 with `hmacKey` (default the secret), EdDSA, or none at all. */
  signWith: 'HS256' | 'HS512' | 'EdDSA' | 'none';
  hmacKey?: string | Buffer;
}

export function mint(keys: TestKeys, payload: Record<string, unknown>, opts: MintOptions): string {
  const header = opts.header ?? { alg: opts.signWith, typ: 'JWT' };
  const input = `${b64url(header)}.${b64url(payload)}`;
  const key = opts.hmacKey ?? keys.secret;
  const signature =
    opts.signWith === 'none'
      ? Buffer.alloc(0)
      : opts.signWith === 'EdDSA'
        ? sign(null, Buffer.from(input), keys.privateKey)
        : createHmac(opts.signWith === 'HS256' ? 'sha256' : 'sha512', key).update(input).digest();
  return `${input}.${signature.toString('base64url')}`;
}

export const hs256 = (keys: TestKeys, payload: Record<string, unknown>): string => mint(keys, payload, { signWith: 'HS256' });
export const eddsa = (keys: TestKeys, payload: Record<string, unknown>): string => mint(keys, payload, { signWith: 'EdDSA' });

/** The token with one character of its signature changed (in the middle, so every bit it carries counts). */
export function tamperSignature(token: string): string {
  const dot = token.lastIndexOf('.');
  const at = dot + Math.floor((token.length - dot) / 2);
  return token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
}

/** The token with its payload replaced by `payload`, the original signature kept. */
export function tamperPayload(token: string, payload: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(payload)}.${signature}`;
}
