/**
 * One log record as the node's ring holds it, taken from the arguments of a logger call before
 * pino serializes them (logging.ts), and its JSON form: the shape of a stdout line (level, time,
 * the call's fields, msg) plus `seq`, the record's place in the node's log.
 */
import { format } from 'node:util';

/** pino's level numbers; a filter on a level keeps that level and those above. */
export const LEVEL_VALUES = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type RecordLevel = keyof typeof LEVEL_VALUES;
export const RECORD_LEVELS = Object.keys(LEVEL_VALUES) as RecordLevel[];

const LEVEL_NAMES: Readonly<Record<number, RecordLevel>> = Object.fromEntries(RECORD_LEVELS.map((name) => [LEVEL_VALUES[name], name]));

export interface LogRecord {
  /** Numbers records in the order they were logged; the SSE event id. */
  readonly seq: number;
  /** Milliseconds since the epoch. */
  readonly time: number;
  readonly level: RecordLevel;
  readonly msg: string;
  /** The object the call logged, as given (not copied: every call site passes a fresh literal). */
  readonly fields: Readonly<Record<string, unknown>>;
}

/** A record's JSON form, as GET /v1/logs answers it and `verge logs --format json` prints it. */
export interface RecordJson {
  level: RecordLevel;
  time: string;
  msg: string;
  seq: number;
  [field: string]: unknown;
}

const NO_FIELDS: Readonly<Record<string, unknown>> = Object.freeze({});

export function levelName(value: number): RecordLevel {
  return LEVEL_NAMES[value] ?? 'info';
}

/**
 * The record of one logger call, read the way pino reads its arguments: (fields, msg, ...args),
 * (msg, ...args) or (error, msg?). `seq` is given by the ring.
 */
export function recordOf(args: readonly unknown[], level: number, time: number, seq: number): LogRecord {
  const [first, second] = args;
  let fields: Readonly<Record<string, unknown>>;
  let msg: string;
  if (typeof first === 'string') {
    fields = NO_FIELDS;
    msg = args.length > 1 ? format(...args) : first;
  } else if (first instanceof Error) {
    fields = { err: first };
    msg = typeof second === 'string' ? second : first.message;
  } else {
    fields = first !== null && typeof first === 'object' ? (first as Record<string, unknown>) : NO_FIELDS;
    msg = typeof second === 'string' ? (args.length > 2 ? format(...args.slice(1)) : second) : fallbackMessage(fields);
  }
  return { seq, time, level: levelName(level), msg, fields };
}

function fallbackMessage(fields: Readonly<Record<string, unknown>>): string {
  if (typeof fields.msg === 'string') return fields.msg;
  return fields.err instanceof Error ? fields.err.message : '';
}

/**
 * Fields as JSON can carry them: an Error as pino's serializer writes it (type, message, stack),
 * a bigint as its digits. Only the top level is looked at, as the call sites log flat objects.
 */
export function recordJson(r: LogRecord): RecordJson {
  // In a stdout line's order: level and time, the fields, then the message.
  const out: Record<string, unknown> = { level: r.level, time: new Date(r.time).toISOString() };
  for (const key in r.fields) {
    if (key === 'level' || key === 'time' || key === 'msg' || key === 'seq') continue;
    const value = r.fields[key];
    if (value === undefined) continue;
    out[key] = value instanceof Error ? errorJson(value) : typeof value === 'bigint' ? value.toString() : value;
  }
  out.msg = r.msg;
  out.seq = r.seq;
  return out as RecordJson;
}

function errorJson(err: Error): Record<string, unknown> {
  return { type: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
}

/** The record back from its JSON form (what `verge logs` receives). */
export function recordFromJson(json: RecordJson): LogRecord {
  const { level, time, msg, seq, ...fields } = json;
  return { seq, time: Date.parse(time), level: level in LEVEL_VALUES ? level : 'info', msg: String(msg ?? ''), fields };
}
