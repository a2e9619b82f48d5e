/** An Ed25519 public key from a PEM file: `-----BEGIN PUBLIC KEY-----`, a SubjectPublicKeyInfo (RFC 8410). */
import { base64Decode } from './crypto/base64.js';
import { PUBLIC_KEY_BYTES } from './crypto/ed25519.js';

/** SEQUENCE { SEQUENCE { OID 1.3.101.112 (id-Ed25519) }, BIT STRING (0 unused bits) } before the 32 key bytes. */
const SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
const PEM = /-----BEGIN PUBLIC KEY-----([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----/;

export function ed25519PublicKeyFromPem(text: string): { ok: true; key: Uint8Array } | { ok: false; message: string } {
  const body = PEM.exec(text)?.[1];
  if (body === undefined) return { ok: false, message: 'expected a PEM "PUBLIC KEY" block' };
  const der = base64Decode(body.replace(/\s+/g, ''));
  if (!der) return { ok: false, message: 'the PEM body is not base64' };
  if (der.length !== SPKI_PREFIX.length + PUBLIC_KEY_BYTES || SPKI_PREFIX.some((b, i) => der[i] !== b)) {
    return { ok: false, message: `expected an Ed25519 SubjectPublicKeyInfo (${SPKI_PREFIX.length + PUBLIC_KEY_BYTES} bytes, OID 1.3.101.112), got ${der.length} bytes of something else` };
  }
  return { ok: true, key: der.slice(SPKI_PREFIX.length) };
}
