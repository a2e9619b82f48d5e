// UTF-8 helpers: strict validation of input bytes and a growable output
// buffer that encodes AssemblyScript (UTF-16) strings straight to UTF-8.
//
// The module is built with the "stub" runtime (a bump allocator that never
// frees; a fresh instance per request makes that free), so everything here
// avoids repeated string concatenation: output is appended to one buffer.

/** Strict UTF-8 check: no overlongs, no surrogates, nothing above U+10FFFF. */
export function isValidUtf8(ptr: usize, len: usize): bool {
  let end = ptr + len;
  while (ptr < end) {
    let b0 = <u32>load<u8>(ptr);
    if (b0 < 0x80) { ++ptr; continue; }
    let need: usize;
    let lo: u32 = 0x80, hi: u32 = 0xBF; // allowed range of the second byte
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      need = 1;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
      need = 2;
      if (b0 == 0xE0) lo = 0xA0;       // overlong
      else if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
      need = 3;
      if (b0 == 0xF0) lo = 0x90;       // overlong
      else if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;
    }
    if (end - ptr <= need) return false; // truncated sequence
    let b1 = <u32>load<u8>(ptr, 1);
    if (b1 < lo || b1 > hi) return false;
    for (let k: usize = 2; k <= need; ++k) {
      if ((<u32>load<u8>(ptr + k) & 0xC0) != 0x80) return false;
    }
    ptr += need + 1;
  }
  return true;
}

const HEX = "0123456789abcdef";

/** Append-only UTF-8 byte buffer. */
export class Utf8Builder {
  /** Start of the buffer (raw allocation, not a managed object). */
  ptr: usize;
  /** Bytes written so far. */
  length: usize = 0;
  private capacity: usize;

  constructor(initialCapacity: usize = 256) {
    this.capacity = max<usize>(initialCapacity, 16);
    this.ptr = __alloc(this.capacity);
  }

  /** Makes room for `extra` more bytes. */
  private reserve(extra: usize): void {
    let needed = this.length + extra;
    if (needed <= this.capacity) return;
    let cap = max<usize>(needed, this.capacity << 1);
    this.ptr = __realloc(this.ptr, cap);
    this.capacity = cap;
  }

  @inline private put(b: u32): void {
    store<u8>(this.ptr + this.length++, <u8>b);
  }

  /** Appends `s` encoded as UTF-8 (unpaired surrogates become U+FFFD). */
  text(s: string): Utf8Builder {
    let n = <usize>s.length;
    this.reserve(n); // exact for ASCII; grown on demand otherwise
    let src = changetype<usize>(s);
    for (let i: usize = 0; i < n; ++i) {
      if (this.capacity - this.length < 4) this.reserve(4 + n - i);
      let c = <u32>load<u16>(src + (i << 1));
      if (c >= 0xD800 && c <= 0xDFFF) {
        let d: u32 = i + 1 < n ? <u32>load<u16>(src + ((i + 1) << 1)) : 0;
        if (c <= 0xDBFF && d >= 0xDC00 && d <= 0xDFFF) {
          this.codePoint(0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00));
          ++i;
        } else {
          this.codePoint(0xFFFD);
        }
      } else {
        this.codePoint(c);
      }
    }
    return this;
  }

  /**
   * Appends `s` as a JSON string literal, quotes included. Escapes `"`, `\`
   * and control characters; unpaired surrogates are written as `\uXXXX`
   * escapes so the output stays valid UTF-8 and round-trips exactly.
   */
  json(s: string): Utf8Builder {
    let n = <usize>s.length;
    this.reserve(n + 2);
    this.put(0x22);
    let src = changetype<usize>(s);
    for (let i: usize = 0; i < n; ++i) {
      // Room for the longest item (a 6-byte \uXXXX escape) plus the closing quote.
      if (this.capacity - this.length < 7) this.reserve(7 + n - i);
      let c = <u32>load<u16>(src + (i << 1));
      if (c >= 0x20 && c != 0x22 && c != 0x5C && (c < 0xD800 || c > 0xDFFF)) {
        this.codePoint(c);
      } else if (c == 0x22) { this.put(0x5C); this.put(0x22); }
      else if (c == 0x5C) { this.put(0x5C); this.put(0x5C); }
      else if (c == 0x0A) { this.put(0x5C); this.put(0x6E); }
      else if (c == 0x0D) { this.put(0x5C); this.put(0x72); }
      else if (c == 0x09) { this.put(0x5C); this.put(0x74); }
      else if (c == 0x08) { this.put(0x5C); this.put(0x62); }
      else if (c == 0x0C) { this.put(0x5C); this.put(0x66); }
      else if (c < 0x20) this.unicodeEscape(c);
      else { // surrogate: copy a valid pair, escape a lone one
        let d: u32 = i + 1 < n ? <u32>load<u16>(src + ((i + 1) << 1)) : 0;
        if (c <= 0xDBFF && d >= 0xDC00 && d <= 0xDFFF) {
          this.codePoint(0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00));
          ++i;
        } else {
          this.unicodeEscape(c);
        }
      }
    }
    this.reserve(1);
    this.put(0x22);
    return this;
  }

  /** Appends raw bytes. */
  bytes(src: usize, len: usize): Utf8Builder {
    this.reserve(len);
    memory.copy(this.ptr + this.length, src, len);
    this.length += len;
    return this;
  }

  private unicodeEscape(c: u32): void {
    this.put(0x5C); this.put(0x75); // \u
    let hex = changetype<usize>(HEX);
    for (let shift: i32 = 12; shift >= 0; shift -= 4) {
      this.put(<u32>load<u16>(hex + ((<usize>(c >> <u32>shift) & 15) << 1)));
    }
  }

  /** Writes one code point (1-4 bytes); the caller has reserved room. */
  private codePoint(c: u32): void {
    if (c < 0x80) {
      this.put(c);
    } else if (c < 0x800) {
      this.put(0xC0 | (c >> 6));
      this.put(0x80 | (c & 63));
    } else if (c < 0x10000) {
      this.put(0xE0 | (c >> 12));
      this.put(0x80 | ((c >> 6) & 63));
      this.put(0x80 | (c & 63));
    } else {
      this.put(0xF0 | (c >> 18));
      this.put(0x80 | ((c >> 12) & 63));
      this.put(0x80 | ((c >> 6) & 63));
      this.put(0x80 | (c & 63));
    }
  }
}
