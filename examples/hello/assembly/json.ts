// A tiny, strict JSON (RFC 8259) reader. (Output escaping lives in
// Utf8Builder.json, see utf8.ts.)
//
// AssemblyScript has no exceptions, so the parser reports failure through
// `JsonParser.error` instead of throwing: `parse()` returns null and `error`
// holds a human-readable message.

export const enum JsonKind {
  Null,
  Bool,
  Number,
  String,
  Array,
  Object,
}

export abstract class JsonValue {
  constructor(public readonly kind: JsonKind) {}
}

export class JsonNull extends JsonValue {
  constructor() { super(JsonKind.Null); }
}

export class JsonBool extends JsonValue {
  constructor(public readonly value: bool) { super(JsonKind.Bool); }
}

/** Numbers are validated but kept as their source text (no float parsing needed here). */
export class JsonNumber extends JsonValue {
  constructor(public readonly raw: string) { super(JsonKind.Number); }
}

export class JsonString extends JsonValue {
  constructor(public readonly value: string) { super(JsonKind.String); }
}

export class JsonArray extends JsonValue {
  readonly items: JsonValue[] = [];
  constructor() { super(JsonKind.Array); }
}

export class JsonObject extends JsonValue {
  readonly keys: string[] = [];
  readonly values: JsonValue[] = [];
  constructor() { super(JsonKind.Object); }

  /** Member lookup; with duplicate keys the last one wins (as in JSON.parse). */
  get(key: string): JsonValue | null {
    for (let i = this.keys.length - 1; i >= 0; --i) {
      if (this.keys[i] == key) return this.values[i];
    }
    return null;
  }
}

/** Maximum nesting of arrays/objects, so hostile input cannot overflow the stack. */
const MAX_DEPTH = 64;

const CH_TAB: i32 = 0x09, CH_LF: i32 = 0x0A, CH_CR: i32 = 0x0D, CH_SPACE: i32 = 0x20;
const CH_QUOTE: i32 = 0x22, CH_PLUS: i32 = 0x2B, CH_COMMA: i32 = 0x2C, CH_MINUS: i32 = 0x2D;
const CH_DOT: i32 = 0x2E, CH_SLASH: i32 = 0x2F, CH_0: i32 = 0x30, CH_1: i32 = 0x31, CH_9: i32 = 0x39;
const CH_COLON: i32 = 0x3A, CH_LBRACKET: i32 = 0x5B, CH_BACKSLASH: i32 = 0x5C, CH_RBRACKET: i32 = 0x5D;
const CH_LBRACE: i32 = 0x7B, CH_RBRACE: i32 = 0x7D;

export class JsonParser {
  /** Set when parsing failed. */
  error: string | null = null;
  private pos: i32 = 0;
  private depth: i32 = 0;
  private readonly len: i32;

  constructor(private readonly src: string) {
    this.len = src.length;
  }

  /** Parses exactly one JSON value (surrounded by optional whitespace). */
  parse(): JsonValue | null {
    let value = this.parseValue();
    if (value == null) return null;
    this.skipWhitespace();
    if (this.pos < this.len) return this.fail("Unexpected trailing data");
    return value;
  }

  // --- helpers ---------------------------------------------------------------

  /** Code unit at `pos`, or -1 at the end of input. */
  @inline private peek(): i32 {
    return this.pos < this.len
      ? <i32>load<u16>(changetype<usize>(this.src) + (<usize>this.pos << 1))
      : -1;
  }

  private fail(what: string): JsonValue | null {
    if (this.error == null) {
      let c = this.peek();
      this.error = c < 0
        ? what + ": unexpected end of input"
        : what + " at position " + uitoa(this.pos) + " (found " + describe(c) + ")";
    }
    return null;
  }

  private skipWhitespace(): void {
    let c = this.peek();
    while (c == CH_SPACE || c == CH_LF || c == CH_CR || c == CH_TAB) {
      ++this.pos;
      c = this.peek();
    }
  }

  // --- grammar ---------------------------------------------------------------

  private parseValue(): JsonValue | null {
    this.skipWhitespace();
    let c = this.peek();
    if (c == CH_LBRACE) return this.parseObject();
    if (c == CH_LBRACKET) return this.parseArray();
    if (c == CH_QUOTE) {
      let s = this.parseString();
      return s == null ? null : new JsonString(s);
    }
    if (c == CH_MINUS || (c >= CH_0 && c <= CH_9)) return this.parseNumber();
    if (this.matchLiteral("true")) return new JsonBool(true);
    if (this.matchLiteral("false")) return new JsonBool(false);
    if (this.matchLiteral("null")) return new JsonNull();
    return this.fail("Expected a JSON value");
  }

  private matchLiteral(word: string): bool {
    let n = word.length;
    if (this.pos + n > this.len) return false;
    if (this.src.substring(this.pos, this.pos + n) != word) return false;
    this.pos += n;
    return true;
  }

  private parseObject(): JsonValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("Nesting too deep");
    ++this.pos; // '{'
    let obj = new JsonObject();
    this.skipWhitespace();
    if (this.peek() == CH_RBRACE) {
      ++this.pos;
      --this.depth;
      return obj;
    }
    while (true) {
      this.skipWhitespace();
      if (this.peek() != CH_QUOTE) return this.fail("Expected a string key");
      let key = this.parseString();
      if (key == null) return null;
      this.skipWhitespace();
      if (this.peek() != CH_COLON) return this.fail("Expected ':'");
      ++this.pos;
      let value = this.parseValue();
      if (value == null) return null;
      obj.keys.push(key);
      obj.values.push(value);
      this.skipWhitespace();
      let c = this.peek();
      if (c == CH_COMMA) { ++this.pos; continue; }
      if (c == CH_RBRACE) { ++this.pos; break; }
      return this.fail("Expected ',' or '}'");
    }
    --this.depth;
    return obj;
  }

  private parseArray(): JsonValue | null {
    if (++this.depth > MAX_DEPTH) return this.fail("Nesting too deep");
    ++this.pos; // '['
    let arr = new JsonArray();
    this.skipWhitespace();
    if (this.peek() == CH_RBRACKET) {
      ++this.pos;
      --this.depth;
      return arr;
    }
    while (true) {
      let value = this.parseValue();
      if (value == null) return null;
      arr.items.push(value);
      this.skipWhitespace();
      let c = this.peek();
      if (c == CH_COMMA) { ++this.pos; continue; }
      if (c == CH_RBRACKET) { ++this.pos; break; }
      return this.fail("Expected ',' or ']'");
    }
    --this.depth;
    return arr;
  }

  /**
   * Parses a string literal starting at the opening quote; null on error.
   * Two passes: validate and measure, then decode into a string allocated
   * once at its final size (no concatenation, linear in the input).
   */
  private parseString(): string | null {
    let start = ++this.pos; // after the opening quote
    let src = changetype<usize>(this.src);
    let units = 0;
    let escaped = false;
    // Pass 1: find the closing quote, check escapes, count output units.
    while (true) {
      let c = this.peek();
      if (c == CH_QUOTE) break;
      if (c < 0) {
        this.fail("Unterminated string");
        return null;
      }
      if (c < 0x20) {
        this.fail("Unescaped control character in string");
        return null;
      }
      if (c == CH_BACKSLASH) {
        escaped = true;
        ++this.pos;
        let e = this.peek();
        if (e == 0x75) { // \uXXXX
          for (let i = 0; i < 4; ++i) {
            ++this.pos;
            if (hexValue(this.peek()) < 0) {
              this.fail("Invalid \\u escape");
              return null;
            }
          }
        } else if (escapeValue(e) < 0) {
          this.fail("Invalid escape sequence");
          return null;
        }
      }
      ++this.pos;
      ++units;
    }
    let end = this.pos++; // index of the closing quote; skip it
    if (!escaped) return this.src.substring(start, end);

    // Pass 2: decode escapes. A \uXXXX escape yields one UTF-16 code unit,
    // so surrogate pairs written as two escapes recombine by themselves.
    let out = changetype<string>(__new(<usize>units << 1, idof<string>()));
    let dst = changetype<usize>(out);
    let i = start;
    while (i < end) {
      let c = <i32>load<u16>(src + (<usize>i << 1));
      ++i;
      if (c == CH_BACKSLASH) {
        let e = <i32>load<u16>(src + (<usize>i << 1));
        ++i;
        if (e == 0x75) {
          c = 0;
          for (let k = 0; k < 4; ++k, ++i) {
            c = (c << 4) | hexValue(<i32>load<u16>(src + (<usize>i << 1)));
          }
        } else {
          c = escapeValue(e);
        }
      }
      store<u16>(dst, <u16>c);
      dst += 2;
    }
    return out;
  }

  private parseNumber(): JsonValue | null {
    let start = this.pos;
    if (this.peek() == CH_MINUS) ++this.pos;
    let c = this.peek();
    if (c == CH_0) {
      ++this.pos; // no leading zeros: "0" must stand alone
    } else if (c >= CH_1 && c <= CH_9) {
      this.skipDigits();
    } else {
      return this.fail("Invalid number");
    }
    if (this.peek() == CH_DOT) {
      ++this.pos;
      if (!this.skipDigits()) return this.fail("Expected digits after decimal point");
    }
    c = this.peek();
    if (c == 0x65 || c == 0x45) { // e E
      ++this.pos;
      c = this.peek();
      if (c == CH_PLUS || c == CH_MINUS) ++this.pos;
      if (!this.skipDigits()) return this.fail("Expected digits in exponent");
    }
    return new JsonNumber(this.src.substring(start, this.pos));
  }

  /** Skips [0-9]*, returning whether at least one digit was consumed. */
  private skipDigits(): bool {
    let start = this.pos;
    let c = this.peek();
    while (c >= CH_0 && c <= CH_9) {
      ++this.pos;
      c = this.peek();
    }
    return this.pos > start;
  }
}

/** Value of a one-character escape (the char after the backslash), or -1. */
function escapeValue(e: i32): i32 {
  switch (e) {
    case CH_QUOTE: return CH_QUOTE;
    case CH_BACKSLASH: return CH_BACKSLASH;
    case CH_SLASH: return CH_SLASH;
    case 0x62: return 0x08; // \b
    case 0x66: return 0x0C; // \f
    case 0x6E: return CH_LF; // \n
    case 0x72: return CH_CR; // \r
    case 0x74: return CH_TAB; // \t
    default: return -1;
  }
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

function hex4(c: i32): string {
  const digits = "0123456789ABCDEF";
  return digits.charAt((c >> 12) & 15) + digits.charAt((c >> 8) & 15)
       + digits.charAt((c >> 4) & 15) + digits.charAt(c & 15);
}

/** Decimal rendering of a non-negative integer (avoids pulling in the generic itoa tables). */
export function uitoa(n: i32): string {
  let s = "";
  do {
    s = String.fromCharCode(0x30 + n % 10) + s;
    n /= 10;
  } while (n > 0);
  return s;
}

/** Renders a code unit for an error message: 'x' when printable ASCII, else U+XXXX. */
function describe(c: i32): string {
  if (c > 0x20 && c < 0x7F) return "'" + String.fromCharCode(c) + "'";
  return "U+" + hex4(c);
}
