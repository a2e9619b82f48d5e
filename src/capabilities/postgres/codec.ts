/**
 * The verge:v1 encoding of parameters and results (docs/abi.md, "PostgreSQL"). Every value is
 * `[tag: u8][length: u32 LE][payload]`, so a reader can skip what it does not know:
 *
 *   NULL 0 (no payload) · BOOL 1 (1 byte) · INT 2 (i64 LE) · FLOAT 3 (f64 LE) · TEXT 4 ·
 *   BYTES 5 · NUMERIC 6 · UUID 7 · JSON 8 · DATE 9 · TIME 10 · TIMESTAMP 11 · TIMESTAMPTZ 12 ·
 *   ARRAY 13 (its elements, each a value) · INTERVAL 14
 *
 * Text payloads are UTF-8: numeric as decimal text, dates and times as ISO 8601. Parameters are
 * values one after another. A result is
 *   [columns: u32] ([name length: u32][name][type length: u32][type]) per column
 *   [rows: u32] (one value per column) per row.
 */
import { HostCallError } from '../abi.js';
import { PG_LIMITS } from './limits.js';
import type { PgCell, PgColumn, PgKind, PgParam } from './types.js';

export const TAG = {
  NULL: 0,
  BOOL: 1,
  INT: 2,
  FLOAT: 3,
  TEXT: 4,
  BYTES: 5,
  NUMERIC: 6,
  UUID: 7,
  JSON: 8,
  DATE: 9,
  TIME: 10,
  TIMESTAMP: 11,
  TIMESTAMPTZ: 12,
  ARRAY: 13,
  INTERVAL: 14,
} as const;

const TEXT_KINDS: Readonly<Record<number, Exclude<PgKind, 'bool' | 'int' | 'float' | 'bytes' | 'other'>>> = {
  [TAG.TEXT]: 'text',
  [TAG.NUMERIC]: 'numeric',
  [TAG.UUID]: 'uuid',
  [TAG.JSON]: 'json',
  [TAG.DATE]: 'date',
  [TAG.TIME]: 'time',
  [TAG.TIMESTAMP]: 'timestamp',
  [TAG.TIMESTAMPTZ]: 'timestamptz',
  [TAG.INTERVAL]: 'interval',
};

const KIND_TAGS: Readonly<Record<PgKind, number>> = {
  bool: TAG.BOOL,
  int: TAG.INT,
  float: TAG.FLOAT,
  text: TAG.TEXT,
  bytes: TAG.BYTES,
  numeric: TAG.NUMERIC,
  uuid: TAG.UUID,
  json: TAG.JSON,
  date: TAG.DATE,
  time: TAG.TIME,
  timestamp: TAG.TIMESTAMP,
  timestamptz: TAG.TIMESTAMPTZ,
  interval: TAG.INTERVAL,
  other: TAG.TEXT,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** The parameters a guest encoded; a malformed encoding is INVALID_ARGUMENT saying where. */
export function decodeParams(bytes: Uint8Array, api: string): PgParam[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (at: number, what: string): never => {
    throw new HostCallError('INVALID_ARGUMENT', `${api}: the parameters are malformed at byte ${at}: ${what}`);
  };
  const value = (at: number, depth: number): [PgParam, number] => {
    if (at + 5 > bytes.length) bad(at, 'a value needs a tag and a 4-byte length');
    const tag = bytes[at]!;
    const len = view.getUint32(at + 1, true);
    const start = at + 5;
    const end = start + len;
    if (end > bytes.length) bad(at, `the value's length ${len} runs past the end`);
    const fixed = (n: number) => len !== n && bad(at, `a value with tag ${tag} is ${n} bytes, not ${len}`);
    switch (tag) {
      case TAG.NULL:
        fixed(0);
        return [null, end];
      case TAG.BOOL:
        fixed(1);
        return [{ kind: 'bool', value: bytes[start] !== 0 }, end];
      case TAG.INT:
        fixed(8);
        return [{ kind: 'int', value: view.getBigInt64(start, true) }, end];
      case TAG.FLOAT:
        fixed(8);
        return [{ kind: 'float', value: view.getFloat64(start, true) }, end];
      case TAG.BYTES:
        return [{ kind: 'bytes', value: bytes.slice(start, end) }, end];
      case TAG.ARRAY: {
        if (depth >= PG_LIMITS.maxArrayDepth) bad(at, `arrays nest at most ${PG_LIMITS.maxArrayDepth} deep`);
        const items: PgParam[] = [];
        let p = start;
        while (p < end) {
          const [item, next] = value(p, depth + 1);
          if (next > end) bad(p, 'an element runs past the end of its array');
          items.push(item);
          p = next;
        }
        return [{ kind: 'array', value: items }, end];
      }
      default: {
        const kind = TEXT_KINDS[tag];
        if (kind === undefined) return bad(at, `unknown tag ${tag}`);
        let text: string;
        try {
          text = utf8.decode(bytes.subarray(start, end));
        } catch {
          return bad(start, 'a text value is not valid UTF-8');
        }
        return [{ kind, value: text }, end];
      }
    }
  };
  const out: PgParam[] = [];
  for (let at = 0; at < bytes.length; ) {
    if (out.length >= PG_LIMITS.maxParams) bad(at, `at most ${PG_LIMITS.maxParams} parameters`);
    const [p, next] = value(at, 0);
    out.push(p);
    at = next;
  }
  return out;
}

/** Parameters in the same encoding (the SDKs' side; for tests and the docs' examples). */
export function encodeParams(params: readonly PgParam[]): Uint8Array {
  const w = new Writer();
  for (const p of params) writeParam(w, p);
  return w.bytes();
}

function writeParam(w: Writer, p: PgParam): void {
  if (p === null) return w.value(TAG.NULL, new Uint8Array(0));
  switch (p.kind) {
    case 'bool':
      return w.value(TAG.BOOL, Uint8Array.of(p.value ? 1 : 0));
    case 'int': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, p.value, true);
      return w.value(TAG.INT, b);
    }
    case 'float': {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, p.value, true);
      return w.value(TAG.FLOAT, b);
    }
    case 'bytes':
      return w.value(TAG.BYTES, p.value);
    case 'array': {
      const inner = new Writer();
      for (const item of p.value) writeParam(inner, item);
      return w.value(TAG.ARRAY, inner.bytes());
    }
    default:
      return w.value(KIND_TAGS[p.kind], encoder.encode(p.value));
  }
}

/** A result for the guest. */
export function encodeResult(columns: readonly PgColumn[], rows: readonly PgCell[][]): Uint8Array {
  const w = new Writer();
  w.u32(columns.length);
  for (const c of columns) {
    w.lengthPrefixed(encoder.encode(c.name));
    w.lengthPrefixed(encoder.encode(c.type));
  }
  w.u32(rows.length);
  for (const row of rows) row.forEach((cell, i) => writeCell(w, columns[i]!.kind, cell));
  return w.bytes();
}

function writeCell(w: Writer, kind: PgKind, cell: PgCell): void {
  if (cell === null) return w.value(TAG.NULL, new Uint8Array(0));
  if (Array.isArray(cell)) {
    const inner = new Writer();
    for (const item of cell) writeCell(inner, kind, item);
    return w.value(TAG.ARRAY, inner.bytes());
  }
  if (typeof cell === 'boolean') return w.value(TAG.BOOL, Uint8Array.of(cell ? 1 : 0));
  if (typeof cell === 'bigint') {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, cell, true);
    return w.value(TAG.INT, b);
  }
  if (typeof cell === 'number') {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, cell, true);
    return w.value(TAG.FLOAT, b);
  }
  if (cell instanceof Uint8Array) return w.value(TAG.BYTES, cell);
  w.value(KIND_TAGS[kind], encoder.encode(cell));
}

/** Appends into chunks, joined once. */
class Writer {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  u32(n: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, n, true);
    this.push(b);
  }

  lengthPrefixed(payload: Uint8Array): void {
    this.u32(payload.length);
    this.push(payload);
  }

  value(tag: number, payload: Uint8Array): void {
    const head = new Uint8Array(5);
    head[0] = tag;
    new DataView(head.buffer).setUint32(1, payload.length, true);
    this.push(head);
    this.push(payload);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
}
