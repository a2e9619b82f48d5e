/**
 * Base64 decoding, strict. base64url (RFC 4648, section 5) without padding for JWT segments, as
 * RFC 7515 requires; standard base64 with padding for PEM bodies. A non-canonical encoding — set
 * bits past the last byte — is refused, so one token has exactly one spelling and a changed
 * character always changes the bytes.
 */

const STANDARD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL_SAFE = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function table(alphabet: string): Int16Array {
  const t = new Int16Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}

const STANDARD_TABLE = table(STANDARD);
const URL_SAFE_TABLE = table(URL_SAFE);

function decodeWith(text: string, t: Int16Array): Uint8Array | undefined {
  if (text.length % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let acc = 0;
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? t[c]! : -1;
    if (v < 0) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  // The bits left over must be zero in a canonical encoding.
  return acc === 0 ? out : undefined;
}

/** base64url without padding (a JWT segment); undefined when it is not one. */
export function base64UrlDecode(text: string): Uint8Array | undefined {
  return decodeWith(text, URL_SAFE_TABLE);
}

/** Standard base64 with its `=` padding (a PEM body); undefined when it is not one. */
export function base64Decode(text: string): Uint8Array | undefined {
  if (text.length % 4 !== 0) return undefined;
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return decodeWith(text.slice(0, text.length - padding), STANDARD_TABLE);
}
