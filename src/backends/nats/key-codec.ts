/**
 * Verge keys are any UTF-8 up to 512 bytes; a NATS key-value key is a subject token of
 * `[-/_=.a-zA-Z0-9]` with no leading, trailing or doubled '.'. Each key is stored as its UTF-8
 * bytes in base 64 over an alphabet in ASCII order (`-0-9A-Z_a-z`), unpadded: the encoding is
 * reversible, never holds a '.', and keeps UTF-8 byte order (the order listKeys promises), since
 * comparing the 6-bit groups compares the bits in order and a shorter key's zero padding never
 * sorts it after a longer key it is a prefix of. 512 bytes take 683 characters.
 *
 * A key prefix is not a subject-token prefix, so listing filters after decoding (nats-store.ts).
 */
const ALPHABET = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';
const VALUE = new Map([...ALPHABET].map((c, i) => [c, i]));
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeKey(key: string): string {
  const bytes = utf8.encode(key);
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += ALPHABET[(acc >> bits) & 63];
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += ALPHABET[(acc << (6 - bits)) & 63];
  return out;
}

/** The key `encodeKey` made `token` from, or undefined for a token it could not have made (written by another client). */
export function decodeKey(token: string): string | undefined {
  const length = Math.floor((token.length * 6) / 8);
  const bytes = new Uint8Array(length);
  let bits = 0;
  let acc = 0;
  let n = 0;
  for (const c of token) {
    const v = VALUE.get(c);
    if (v === undefined) return undefined;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[n++] = (acc >> bits) & 0xff;
    }
    acc &= (1 << bits) - 1;
  }
  // Left-over padding bits must be zero, or two tokens would decode to one key.
  if (acc !== 0 || n !== length) return undefined;
  try {
    const key = strictUtf8.decode(bytes);
    return encodeKey(key) === token ? key : undefined;
  } catch {
    return undefined;
  }
}
