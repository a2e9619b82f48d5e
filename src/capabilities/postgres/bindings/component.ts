/**
 * spin:postgres/postgres@4.x for components, so Spin components run unchanged: the same
 * postgres/access.ts as verge:v1 (grants, checks, the main thread's pool and limits). Spin's
 * `Connection.open(address)` takes a postgres:// address checked against allowed_outbound_hosts;
 * Verge also takes the name of a database granted in `databases` (the guest never sees its URL).
 * Values convert as Spin converts them (timestamp and timestamptz are `datetime` in UTC); Verge
 * adds json, name and char, which Spin returns as `unsupported`.
 */
import { HostCallError } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { guarded } from '../../component-result.js';
import { ok, type Result } from '../../../sandbox/component/wasi-io.js';
import { pgAccess, PgError, type PgHandle } from '../access.js';
import type { PgCell, PgColumn, PgParam } from '../types.js';

type RangeBound<T> = [T, 'inclusive' | 'exclusive'] | undefined;
type ParameterValue =
  | { tag: 'boolean'; val: boolean }
  | { tag: 'int8' | 'int16' | 'int32'; val: number }
  | { tag: 'int64'; val: bigint }
  | { tag: 'floating32' | 'floating64'; val: number }
  | { tag: 'str' | 'uuid' | 'decimal'; val: string }
  | { tag: 'binary' | 'jsonb'; val: Uint8Array }
  | { tag: 'date'; val: [number, number, number] }
  | { tag: 'time'; val: [number, number, number, number] }
  | { tag: 'datetime'; val: [number, number, number, number, number, number, number] }
  | { tag: 'timestamp'; val: bigint }
  | { tag: 'range-int32' | 'range-int64' | 'range-decimal'; val: [RangeBound<number | bigint | string>, RangeBound<number | bigint | string>] }
  | { tag: 'array-int32'; val: Array<number | undefined> }
  | { tag: 'array-int64'; val: Array<bigint | undefined> }
  | { tag: 'array-decimal' | 'array-str'; val: Array<string | undefined> }
  | { tag: 'interval'; val: { micros: bigint; days: number; months: number } }
  | { tag: 'db-null' };
type DbValue = ParameterValue | { tag: 'unsupported'; val: Uint8Array };
type DbDataType = { tag: string } | { tag: 'other'; val: string };
type DbError = { asText: string; severity: string; code: string; message: string; detail: string | undefined; extras: Array<[string, string]> };
type SpinPgError =
  | { tag: 'connection-failed' | 'bad-parameter' | 'value-conversion-failed' | 'other'; val: string }
  | { tag: 'query-failed'; val: { tag: 'text'; val: string } | { tag: 'db-error'; val: DbError } };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** A refusal as Spin's error variant; Verge's own carry the verge:v1 status first ("ACCESS_DENIED: ..."). */
function spinError(e: HostCallError): SpinPgError {
  const described = `${e.status}: ${e.message}`;
  if (!(e instanceof PgError)) return e.status === 'ACCESS_DENIED' ? { tag: 'connection-failed', val: described } : e.status === 'INVALID_ARGUMENT' ? { tag: 'bad-parameter', val: described } : { tag: 'other', val: described };
  const f = e.failure;
  if (f.cause === 'query' && f.sqlstate) {
    const severity = f.severity ?? 'ERROR';
    return { tag: 'query-failed', val: { tag: 'db-error', val: { asText: `${severity}: ${f.message}`, severity, code: f.sqlstate, message: f.message, detail: f.detail, extras: [] } } };
  }
  const text = `${f.status}: ${f.message}`;
  if (f.cause === 'connection' || f.status === 'ACCESS_DENIED') return { tag: 'connection-failed', val: text };
  if (f.status === 'INVALID_ARGUMENT' && f.cause === 'refused') return { tag: 'bad-parameter', val: text };
  return { tag: 'other', val: text };
}

export function pgComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  const pg = pgAccess(scope);
  const run = <T>(api: string, fn: () => T): Result<T, SpinPgError> => guarded(scope, `spin:postgres/postgres.${api}`, fn, spinError);

  class Connection {
    constructor(readonly handle: PgHandle) {}

    static open(address: string): Result<Connection, SpinPgError> {
      return run('open', () => new Connection(pg.open(address, 'open')));
    }

    query(statement: string, params: ParameterValue[]) {
      return run('[method]connection.query', () => {
        const result = pg.query(this.handle, statement, params.map(toParam), 'query');
        return { columns: result.columns.map((c) => ({ name: c.name, dataType: dataType(c) })), rows: result.rows.map((row) => row.map((cell, i) => dbValue(result.columns[i]!, cell))) };
      });
    }

    execute(statement: string, params: ParameterValue[]) {
      return run('[method]connection.execute', () => pg.execute(this.handle, statement, params.map(toParam), 'execute'));
    }

    [Symbol.dispose](): void {
      try {
        pg.close(this.handle, 'drop');
      } catch {
        // Dropping cannot fail for the guest; the request's end rolls back what is left.
      }
    }
  }

  class ConnectionBuilder {
    private ca: string | undefined;
    constructor(readonly address: string) {}

    setCaRoot(certificate: string): Result<void, SpinPgError> {
      this.ca = certificate;
      return ok(undefined);
    }

    build(): Result<Connection, SpinPgError> {
      return run('[method]connection-builder.build', () => new Connection(pg.open(this.address, 'build', this.ca)));
    }
  }

  return { 'spin:postgres/postgres': { Connection, ConnectionBuilder } };
}

const pad = (n: number, width = 2): string => String(Math.abs(n)).padStart(width, '0');
const fraction = (ns: number): string => (ns === 0 ? '' : `.${String(ns).padStart(9, '0')}`);
const dateText = ([y, m, d]: [number, number, number]): string => (y <= 0 ? `${pad(1 - y, 4)}-${pad(m)}-${pad(d)} BC` : `${pad(y, 4)}-${pad(m)}-${pad(d)}`);

/** Spin's parameter as Verge's: numbers and text as they are, dates and times as ISO text. */
function toParam(p: ParameterValue): PgParam {
  switch (p.tag) {
    case 'db-null':
      return null;
    case 'boolean':
      return { kind: 'bool', value: p.val };
    case 'int8':
    case 'int16':
    case 'int32':
      return { kind: 'int', value: BigInt(p.val) };
    case 'int64':
      return { kind: 'int', value: p.val };
    case 'floating32':
    case 'floating64':
      return { kind: 'float', value: p.val };
    case 'str':
      return { kind: 'text', value: p.val };
    case 'uuid':
      return { kind: 'uuid', value: p.val };
    case 'decimal':
      return { kind: 'numeric', value: p.val };
    case 'binary':
      return { kind: 'bytes', value: p.val };
    case 'jsonb':
      return { kind: 'json', value: dec.decode(p.val) };
    case 'date':
      return { kind: 'date', value: dateText(p.val) };
    case 'time': {
      const [h, m, s, ns] = p.val;
      return { kind: 'time', value: `${pad(h)}:${pad(m)}:${pad(s)}${fraction(ns)}` };
    }
    case 'datetime': {
      const [y, mo, d, h, mi, s, ns] = p.val;
      return { kind: 'timestamp', value: `${dateText([y, mo, d]).replace(/ BC$/, '')} ${pad(h)}:${pad(mi)}:${pad(s)}${fraction(ns)}${y <= 0 ? ' BC' : ''}` };
    }
    case 'timestamp': {
      // Unix seconds; JavaScript dates reach ±8.64e15 ms.
      if (p.val > 8_640_000_000_000n || p.val < -8_640_000_000_000n) throw new HostCallError('INVALID_ARGUMENT', `timestamp ${p.val} (Unix seconds) is out of range`);
      return { kind: 'timestamptz', value: new Date(Number(p.val) * 1000).toISOString() };
    }
    case 'interval':
      return { kind: 'interval', value: `${p.val.months} months ${p.val.days} days ${p.val.micros.toString()} microseconds` };
    case 'range-int32':
    case 'range-int64':
    case 'range-decimal': {
      const [lower, upper] = p.val;
      const low = lower ? `${lower[1] === 'inclusive' ? '[' : '('}${String(lower[0])}` : '(';
      const high = upper ? `${String(upper[0])}${upper[1] === 'inclusive' ? ']' : ')'}` : ')';
      return { kind: 'text', value: `${low},${high}` };
    }
    case 'array-int32':
      return { kind: 'array', value: p.val.map((v) => (v === undefined ? null : { kind: 'int', value: BigInt(v) })) };
    case 'array-int64':
      return { kind: 'array', value: p.val.map((v) => (v === undefined ? null : { kind: 'int', value: v })) };
    case 'array-decimal':
      return { kind: 'array', value: p.val.map((v) => (v === undefined ? null : { kind: 'numeric', value: v })) };
    case 'array-str':
      return { kind: 'array', value: p.val.map((v) => (v === undefined ? null : { kind: 'text', value: v })) };
  }
}

const SCALAR_TYPES: Readonly<Record<string, string>> = {
  bool: 'boolean',
  int2: 'int16',
  int4: 'int32',
  int8: 'int64',
  float4: 'floating32',
  float8: 'floating64',
  text: 'str',
  varchar: 'str',
  bpchar: 'str',
  name: 'str',
  char: 'str',
  bytea: 'binary',
  date: 'date',
  time: 'time',
  timestamp: 'datetime',
  timestamptz: 'datetime',
  uuid: 'uuid',
  json: 'jsonb',
  jsonb: 'jsonb',
  numeric: 'decimal',
  interval: 'interval',
  'int4[]': 'array-int32',
  'int8[]': 'array-int64',
  'numeric[]': 'array-decimal',
  'text[]': 'array-str',
  'varchar[]': 'array-str',
  'bpchar[]': 'array-str',
};

function dataType(c: PgColumn): DbDataType {
  const tag = Object.hasOwn(SCALAR_TYPES, c.type) ? SCALAR_TYPES[c.type]! : undefined;
  return tag ? { tag } : { tag: 'other', val: c.type };
}

const DATE = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TIME = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?$/;
const nanos = (digits: string | undefined): number => Number((digits ?? '').padEnd(9, '0'));

function dbValue(c: PgColumn, cell: PgCell): DbValue {
  if (cell === null) return { tag: 'db-null' };
  const unsupported = (): DbValue => ({ tag: 'unsupported', val: enc.encode(typeof cell === 'string' ? cell : JSON.stringify(cell, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) });
  const tag = dataType(c).tag;
  switch (tag) {
    case 'boolean':
      return { tag, val: cell as boolean };
    case 'int16':
    case 'int32':
      return { tag, val: Number(cell as bigint) };
    case 'int64':
      return { tag, val: cell as bigint };
    case 'floating32':
    case 'floating64':
      return { tag, val: cell as number };
    case 'str':
    case 'uuid':
    case 'decimal':
      return { tag, val: cell as string };
    case 'binary':
      return { tag, val: cell as Uint8Array };
    case 'jsonb':
      return { tag, val: enc.encode(cell as string) };
    case 'date': {
      const m = DATE.exec(cell as string);
      return m ? { tag, val: [m[4] ? 1 - Number(m[1]) : Number(m[1]), Number(m[2]), Number(m[3])] } : unsupported();
    }
    case 'time': {
      const m = TIME.exec(cell as string);
      return m ? { tag, val: [Number(m[1]), Number(m[2]), Number(m[3]), nanos(m[4])] } : unsupported();
    }
    case 'datetime': {
      const [date, time] = (cell as string).replace(/Z$/, '').split('T');
      const d = DATE.exec(date ?? '');
      const t = TIME.exec((time ?? '').replace(/ BC$/, ''));
      if (!d || !t) return unsupported();
      const year = (cell as string).endsWith(' BC') ? 1 - Number(d[1]) : Number(d[1]);
      return { tag, val: [year, Number(d[2]), Number(d[3]), Number(t[1]), Number(t[2]), Number(t[3]), nanos(t[4])] };
    }
    case 'interval': {
      const iv = isoInterval(cell as string);
      return iv ? { tag, val: iv } : unsupported();
    }
    case 'array-int32':
    case 'array-int64':
    case 'array-decimal':
    case 'array-str': {
      const items = cell as PgCell[];
      if (items.some(Array.isArray)) return unsupported(); // Spin's arrays have one dimension
      if (tag === 'array-int32') return { tag, val: items.map((v) => (v === null ? undefined : Number(v as bigint))) };
      if (tag === 'array-int64') return { tag, val: items.map((v) => (v === null ? undefined : (v as bigint))) };
      return { tag, val: items.map((v) => (v === null ? undefined : (v as string))) };
    }
    default:
      return unsupported();
  }
}

/** IntervalStyle iso_8601 (`P1Y2M3DT4H5M6.5S`, parts may be negative) as Spin's months, days and microseconds. */
export function isoInterval(text: string): { micros: bigint; days: number; months: number } | undefined {
  const m = /^P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+)(?:\.(\d+))?S)?)?$/.exec(text);
  if (!m) return undefined;
  const n = (s: string | undefined) => (s === undefined ? 0 : Number(s));
  const seconds = m[6] ?? '0';
  const negative = seconds.startsWith('-');
  const micros = BigInt(n(m[4])) * 3_600_000_000n + BigInt(n(m[5])) * 60_000_000n + BigInt(seconds) * 1_000_000n + (negative ? -1n : 1n) * BigInt((m[7] ?? '').padEnd(6, '0').slice(0, 6) || '0');
  return { months: n(m[1]) * 12 + n(m[2]), days: n(m[3]), micros };
}
