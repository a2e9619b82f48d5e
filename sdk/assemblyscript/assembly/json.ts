// JSON as raw strings: the SDK has no serializer; these keep hand-built JSON valid.

const HEX = "0123456789abcdef";

/** `s` as a JSON string literal, quotes included. */
export function jsonString(s: string): string {
  let out = "\"";
  let start = 0;
  for (let i = 0; i < s.length; ++i) {
    let c = s.charCodeAt(i);
    let esc: string | null = null;
    if (c == 0x22) esc = "\\\"";
    else if (c == 0x5C) esc = "\\\\";
    else if (c == 0x0A) esc = "\\n";
    else if (c == 0x0D) esc = "\\r";
    else if (c == 0x09) esc = "\\t";
    else if (c < 0x20 || c == 0x2028 || c == 0x2029 || (c >= 0xD800 && c <= 0xDFFF && !pairedSurrogate(s, i))) {
      esc = "\\u" + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15);
    }
    if (esc != null) {
      out += s.substring(start, i) + esc;
      start = i + 1;
    }
  }
  return out + s.substring(start) + "\"";
}

/** Whether the surrogate at `i` is half of a valid pair. */
function pairedSurrogate(s: string, i: i32): bool {
  let c = s.charCodeAt(i);
  if (c <= 0xDBFF) return i + 1 < s.length && s.charCodeAt(i + 1) >= 0xDC00 && s.charCodeAt(i + 1) <= 0xDFFF;
  return i > 0 && s.charCodeAt(i - 1) >= 0xD800 && s.charCodeAt(i - 1) <= 0xDBFF;
}

/** `{"error":CODE,"message":MESSAGE}`, the error shape Verge itself answers with. */
export function jsonError(code: string, message: string): string {
  return "{\"error\":" + jsonString(code) + ",\"message\":" + jsonString(message) + "}";
}
