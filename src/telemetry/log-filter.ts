/**
 * Which log records a reader wants: the query of GET /v1/logs (docs/observability.md#logs),
 * checked once into a filter, and the test a record passes. Unknown parameters are refused
 * rather than ignored, so a misspelt filter does not silently show everything.
 */
import { VergeError } from '../errors.js';
import { LEVEL_VALUES, RECORD_LEVELS, type LogRecord, type RecordLevel } from './log-record.js';

export interface LogFilter {
  app?: string | undefined;
  component?: string | undefined;
  /** This level and those above. */
  level?: RecordLevel | undefined;
  request_id?: string | undefined;
  /** Case-insensitive text in the message or a field's value. */
  q?: string | undefined;
}

export interface LogQuery {
  filter: LogFilter;
  /** How many of the most recent matching records to send first. */
  limit: number;
  /** Keep the response open and stream new records (Server-Sent Events). */
  follow: boolean;
}

export const DEFAULT_LOG_LIMIT = 100;
/** Longer text filters are refused: nothing useful is that long, and each record is searched. */
export const MAX_FILTER_CHARS = 512;

const TEXT_PARAMS = ['app', 'component', 'request_id', 'q'] as const;
const PARAMS = new Set<string>([...TEXT_PARAMS, 'level', 'limit', 'follow']);

/** `maxLimit`: the ring's capacity. An empty parameter counts as absent, as an HTML form sends it. */
export function parseLogQuery(params: URLSearchParams, maxLimit: number): LogQuery {
  for (const name of params.keys()) {
    if (!PARAMS.has(name)) throw invalid(`unknown parameter ${JSON.stringify(name.slice(0, 40))}; the filters are ${[...PARAMS].join(', ')}`);
  }
  const get = (name: string): string | undefined => params.get(name) || undefined;
  const filter: LogFilter = {};
  for (const name of TEXT_PARAMS) {
    const value = get(name);
    if (value !== undefined && value.length > MAX_FILTER_CHARS) throw invalid(`${name}: longer than ${MAX_FILTER_CHARS} characters`);
    filter[name] = name === 'q' ? value?.toLowerCase() : value;
  }
  const level = get('level');
  if (level !== undefined) {
    if (!(level in LEVEL_VALUES)) throw invalid(`level: expected one of ${RECORD_LEVELS.join(', ')}, got ${JSON.stringify(level.slice(0, 40))}`);
    filter.level = level as RecordLevel;
  }
  const rawLimit = get('limit');
  const limit = rawLimit === undefined ? Math.min(DEFAULT_LOG_LIMIT, maxLimit) : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 0 || limit > maxLimit) throw invalid(`limit: expected a whole number from 0 to ${maxLimit}, got ${JSON.stringify(rawLimit?.slice(0, 40))}`);
  const rawFollow = get('follow');
  if (rawFollow !== undefined && rawFollow !== '1' && rawFollow !== 'true' && rawFollow !== '0' && rawFollow !== 'false') {
    throw invalid(`follow: expected 1 or 0, got ${JSON.stringify(rawFollow.slice(0, 40))}`);
  }
  return { filter, limit, follow: rawFollow === '1' || rawFollow === 'true' };
}

function invalid(message: string): VergeError {
  return new VergeError('LOGS_QUERY_INVALID', `GET /v1/logs: ${message}`);
}

export function matches(filter: LogFilter, r: LogRecord): boolean {
  if (filter.level !== undefined && LEVEL_VALUES[r.level] < LEVEL_VALUES[filter.level]) return false;
  const f = r.fields;
  if (filter.app !== undefined && f.app !== filter.app) return false;
  if (filter.component !== undefined && f.component !== filter.component) return false;
  if (filter.request_id !== undefined && f.request_id !== filter.request_id) return false;
  return filter.q === undefined || containsText(r, filter.q);
}

/** `lower`: the text in lower case. Top-level values only: the call sites log flat objects. */
function containsText(r: LogRecord, lower: string): boolean {
  if (r.msg.toLowerCase().includes(lower)) return true;
  for (const key in r.fields) {
    const value = r.fields[key];
    if ((typeof value === 'string' || typeof value === 'number') && String(value).toLowerCase().includes(lower)) return true;
    if (value instanceof Error && value.message.toLowerCase().includes(lower)) return true;
  }
  return false;
}

/** The query string for a filter (what `verge logs` sends). */
export function queryOf(filter: LogFilter, more: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries({ ...filter, ...more })) if (value !== undefined) params.set(name, String(value));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
