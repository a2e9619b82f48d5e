/**
 * One readable line per log record, for a terminal (`verge up` on a TTY, `verge logs`):
 *
 *   08:14:15.123 INFO  shop/web request GET /cart 200 1.23ms version=3f2a9c01d4e5 route=/... req=6f1c…
 *
 * time (local), level, app/component, the message (a guest's line in place of "guest"), the
 * request's method, path, status and duration bare, the other fields as key=value, the request
 * id last so it can be copied into a filter. Guests write what they like: control characters
 * are escaped so a log line cannot drive the terminal.
 */
import type { LogRecord, RecordLevel } from './log-record.js';

export interface PrettyOptions {
  /** ANSI colours (levels, dim time and keys). */
  color: boolean;
}

const LEVEL_COLORS: Readonly<Record<RecordLevel, string>> = { trace: '90', debug: '36', info: '32', warn: '33', error: '31', fatal: '35' };
/** Shown bare, in this order, before the other fields: the access log's essentials. */
const HEAD_KEYS = ['method', 'path', 'status', 'duration_ms'] as const;
/** Shown in their own places. */
const PLACED = new Set<string>(['app', 'component', 'request_id', ...HEAD_KEYS]);

export function formatPretty(r: Pick<LogRecord, 'time' | 'level' | 'msg' | 'fields'>, opts: PrettyOptions): string {
  const paint = (code: string, text: string) => (opts.color ? `\u001b[${code}m${text}\u001b[0m` : text);
  const f = r.fields;
  const parts: string[] = [paint('2', clock(r.time)), paint(LEVEL_COLORS[r.level], r.level.toUpperCase().padEnd(5))];
  const source = [f.app, f.component].filter((v) => typeof v === 'string' && v !== '' && v !== '-').join('/');
  if (source) parts.push(paint('1', clean(source)));
  // A guest's line is the message: "guest stderr: ..." rather than "guest line=...".
  const guestLine = typeof f.line === 'string' ? f.line : undefined;
  const stream = guestLine !== undefined && typeof f.stream === 'string' ? f.stream : undefined;
  parts.push(guestLine === undefined ? clean(r.msg) : `${clean(r.msg)}${stream && stream !== 'guest' ? ` ${clean(stream)}` : ''}: ${clean(guestLine)}`);
  for (const key of HEAD_KEYS) {
    const value = f[key];
    if (value !== undefined) parts.push(key === 'duration_ms' ? `${String(value)}ms` : bare(value));
  }
  let stack = '';
  for (const key in f) {
    const value = f[key];
    if (value === undefined || PLACED.has(key) || (guestLine !== undefined && (key === 'line' || key === 'stream'))) continue;
    const err = errorParts(value);
    if (err) {
      parts.push(`${paint('2', `${clean(key)}=`)}${quote(err.message)}`);
      if (err.stack) stack += '\n' + err.stack.split('\n').slice(1).map((l) => `    ${clean(l.trim())}`).join('\n');
      continue;
    }
    parts.push(`${paint('2', `${clean(key)}=`)}${bare(value)}`);
  }
  if (typeof f.request_id === 'string') parts.push(`${paint('2', 'req=')}${clean(f.request_id)}`);
  return parts.join(' ') + stack;
}

function clock(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** An Error, or one as JSON carries it ({type, message, stack}). */
function errorParts(value: unknown): { message: string; stack: string | undefined } | undefined {
  if (value instanceof Error) return { message: `${value.name}: ${value.message}`, stack: value.stack };
  if (value === null || typeof value !== 'object') return undefined;
  const o = value as { type?: unknown; message?: unknown; stack?: unknown };
  if (typeof o.message !== 'string' || typeof o.stack !== 'string') return undefined;
  return { message: typeof o.type === 'string' ? `${o.type}: ${o.message}` : o.message, stack: o.stack };
}

/** Strings that read unambiguously without quotes stay bare; anything else is JSON. */
function bare(value: unknown): string {
  if (typeof value === 'string') return /^[\w.:/@%+,#~?=&-]+$/.test(value) ? value : quote(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  try {
    return clean(JSON.stringify(value) ?? String(value));
  } catch {
    return '[unserializable]';
  }
}

/** JSON quoting escapes control characters too. */
function quote(text: string): string {
  return clean(JSON.stringify(text));
}

/** C0 and C1 control characters (ESC above all) and bidirectional overrides as visible escapes; a tab as a space. */
function clean(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c === '\t' ? ' ' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
