/**
 * A stored value as the dashboard shows it: JSON (pretty-printed), text (valid UTF-8 without
 * control characters other than whitespace), or binary; always a hex dump too. The node decides,
 * so the browser gets text it can put on the page as is. Large values are cut at named limits.
 */

export const KV_VIEW_LIMITS = Object.freeze({
  /** Text and JSON are shown up to this many bytes of the value. */
  textBytes: 256 * 1024,
  /** The hex dump covers this many bytes from the start. */
  hexBytes: 16 * 1024,
});

export type ValueKind = 'json' | 'text' | 'binary';

export interface ValueView {
  /** The value's full size in bytes. */
  size: number;
  kind: ValueKind;
  /** The value as UTF-8 text (pretty JSON for kind json); absent for binary. */
  text?: string;
  /** `offset  hex bytes  ascii`, 16 bytes a line. */
  hex: string;
  /** Text or hex stopped short of the whole value. */
  truncated: boolean;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export function viewValue(value: Uint8Array): ValueView {
  const size = value.length;
  const hexPart = value.subarray(0, KV_VIEW_LIMITS.hexBytes);
  const hex = hexDump(hexPart);
  const text = decodeText(value.subarray(0, KV_VIEW_LIMITS.textBytes), size > KV_VIEW_LIMITS.textBytes);
  const truncated = size > KV_VIEW_LIMITS.hexBytes || (text !== undefined && size > KV_VIEW_LIMITS.textBytes);
  if (text === undefined) return { size, kind: 'binary', hex, truncated };
  if (size <= KV_VIEW_LIMITS.textBytes) {
    const json = prettyJson(text);
    if (json !== undefined) return { size, kind: 'json', text: json, hex, truncated };
  }
  return { size, kind: 'text', text, hex, truncated };
}

/** UTF-8 without control characters (tab, newline and carriage return allowed); undefined otherwise. */
function decodeText(bytes: Uint8Array, cut: boolean): string | undefined {
  let text: string;
  try {
    text = decoder.decode(cut ? trimPartialCharacter(bytes) : bytes);
  } catch {
    return undefined;
  }
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text) ? undefined : text;
}

/** Drops a multi-byte character the cut split, so a long text value still decodes. */
function trimPartialCharacter(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  let back = 0;
  // At most 3 continuation bytes (10xxxxxx) end a split 4-byte character.
  while (back < 3 && end - back - 1 >= 0 && (bytes[end - back - 1]! & 0xc0) === 0x80) back++;
  const lead = end - back - 1;
  if (lead < 0) return bytes;
  const b = bytes[lead]!;
  const needs = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : 0;
  if (needs > back) end = lead;
  return bytes.subarray(0, end);
}

function prettyJson(text: string): string | undefined {
  const trimmed = text.trim();
  // Only objects, arrays and strings: "42" or "true" read better as the text they are.
  if (!/^[[{"]/.test(trimmed)) return undefined;
  try {
    return JSON.stringify(JSON.parse(trimmed), null, 2);
  } catch {
    return undefined;
  }
}

export function hexDump(bytes: Uint8Array): string {
  const lines: string[] = [];
  for (let off = 0; off < bytes.length; off += 16) {
    const row = bytes.subarray(off, off + 16);
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${off.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}
