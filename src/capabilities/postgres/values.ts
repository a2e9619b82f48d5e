/**
 * PostgreSQL's text form ↔ the capability's values, on the main thread. Every result value
 * arrives as text (the sessions are set to DateStyle ISO, TimeZone UTC, IntervalStyle
 * iso_8601): this file types it by its column's OID. Parameters go as text too (bytea as bytes),
 * untyped, so PostgreSQL infers each one's type from the statement, as for a literal.
 */
import type { PgCell, PgColumn, PgKind, PgParam } from './types.js';

/** Built-in scalar types by OID: their name and kind. */
const SCALARS = new Map<number, [string, PgKind]>([
  [16, ['bool', 'bool']],
  [17, ['bytea', 'bytes']],
  [18, ['char', 'text']],
  [19, ['name', 'text']],
  [20, ['int8', 'int']],
  [21, ['int2', 'int']],
  [23, ['int4', 'int']],
  [25, ['text', 'text']],
  [26, ['oid', 'int']],
  [114, ['json', 'json']],
  [700, ['float4', 'float']],
  [701, ['float8', 'float']],
  [1042, ['bpchar', 'text']],
  [1043, ['varchar', 'text']],
  [1082, ['date', 'date']],
  [1083, ['time', 'time']],
  [1114, ['timestamp', 'timestamp']],
  [1184, ['timestamptz', 'timestamptz']],
  [1186, ['interval', 'interval']],
  [1700, ['numeric', 'numeric']],
  [2950, ['uuid', 'uuid']],
  [3802, ['jsonb', 'json']],
]);

/** Array types by OID: their element's OID. */
const ARRAYS = new Map<number, number>([
  [1000, 16], [1001, 17], [1002, 18], [1003, 19], [1016, 20], [1005, 21], [1007, 23], [1009, 25], [1028, 26], [199, 114],
  [1021, 700], [1022, 701], [1014, 1042], [1015, 1043], [1182, 1082], [1183, 1083], [1115, 1114], [1185, 1184], [1187, 1186],
  [1231, 1700], [2951, 2950], [3807, 3802],
]);

/** The column's name, type and kind, from its RowDescription field. */
export function describeColumn(name: string, oid: number): PgColumn {
  const scalar = SCALARS.get(oid);
  if (scalar) return { name, type: scalar[0], kind: scalar[1], array: false };
  const element = ARRAYS.get(oid);
  const inner = element === undefined ? undefined : SCALARS.get(element);
  if (inner) return { name, type: `${inner[0]}[]`, kind: inner[1], array: true };
  return { name, type: `oid ${oid}`, kind: 'other', array: false };
}

/** One cell of `column` from its text form. */
export function decodeCell(column: PgColumn, text: string | null): PgCell {
  if (text === null) return null;
  return column.array ? parseArray(text, column.kind) : decodeScalar(column.kind, text);
}

function decodeScalar(kind: PgKind, text: string): PgCell {
  switch (kind) {
    case 'bool':
      return text === 't' || text === 'true';
    case 'int':
      return BigInt(text);
    case 'float':
      return Number(text);
    case 'bytes':
      return decodeBytea(text);
    case 'timestamp':
      return text.replace(' ', 'T');
    case 'timestamptz':
      return utcTimestamp(text);
    default:
      return text;
  }
}

/** bytea in the hex output format (`\x0aff`), or the older escape format. */
export function decodeBytea(text: string): Uint8Array {
  if (text.startsWith('\\x')) return new Uint8Array(Buffer.from(text.slice(2), 'hex'));
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') out.push(text.charCodeAt(i));
    else if (text[i + 1] === '\\') out.push(92), i++;
    else out.push(parseInt(text.slice(i + 1, i + 4), 8)), (i += 3);
  }
  return new Uint8Array(out);
}

const TZ_TIMESTAMP = /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?( BC)?$/;

/**
 * A timestamptz as ISO 8601 in UTC (`2024-05-01T13:45:00.25Z`). Sessions run in UTC, so the
 * offset is +00; another one (a guest's SET TimeZone) is converted. infinity stays as is.
 */
export function utcTimestamp(text: string): string {
  const m = TZ_TIMESTAMP.exec(text);
  if (!m) return text;
  const [, y, mo, d, h, mi, s, frac = '', sign, oh, om = '0', os = '0', bc] = m;
  const offsetSeconds = (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  if (offsetSeconds === 0) return `${y}-${mo}-${d}T${h}:${mi}:${s}${frac}Z${bc ?? ''}`;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s) - offsetSeconds);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(date.getUTCFullYear(), 4)}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}${frac}Z${bc ?? ''}`;
}

/**
 * An array's text form (`{1,2,NULL}`, `{{1,2},{3,4}}`, `{"a b","c\"d"}`) as nested cells. A
 * lower bound other than 1 (`[0:1]={1,2}`) is dropped.
 */
export function parseArray(text: string, kind: PgKind): PgCell[] {
  let i = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const parse = (): PgCell[] => {
    if (text[i] !== '{') throw new Error(`malformed array literal at ${i}`);
    i++;
    const out: PgCell[] = [];
    if (text[i] === '}') return i++, out;
    for (;;) {
      if (text[i] === '{') out.push(parse());
      else if (text[i] === '"') {
        let s = '';
        for (i++; text[i] !== '"'; i++) {
          if (i >= text.length) throw new Error('unterminated quoted array element');
          if (text[i] === '\\') i++;
          s += text[i];
        }
        i++;
        out.push(decodeScalar(kind, s));
      } else {
        const start = i;
        // Elements are separated by ","; box is the one built-in type that uses ";".
        while (i < text.length && text[i] !== ',' && text[i] !== '}') i++;
        const raw = text.slice(start, i).trim();
        out.push(raw === 'NULL' ? null : decodeScalar(kind, raw));
      }
      if (text[i] === ',') i++;
      else if (text[i] === '}') return i++, out;
      else throw new Error(`malformed array literal at ${i}`);
    }
  };
  return parse();
}

/** A parameter as node-postgres sends it: text, bytes (bytea), null, or an array of those. */
export type WireParam = string | Buffer | null | WireParam[];

export function toWire(p: PgParam): WireParam {
  if (p === null) return null;
  switch (p.kind) {
    case 'bool':
      return p.value ? 'true' : 'false';
    case 'int':
      return p.value.toString();
    case 'float':
      return Number.isNaN(p.value) ? 'NaN' : p.value === Infinity ? 'Infinity' : p.value === -Infinity ? '-Infinity' : String(p.value);
    case 'bytes':
      return Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength);
    case 'array':
      return p.value.map(toWire);
    default:
      return p.value;
  }
}
