/**
 * The node's log: records on stdout, JSON lines (pino) or one readable line each (`pretty`, for
 * a terminal), and every record also kept in the log ring (log-ring.ts) for GET /v1/logs. Human
 * messages (the serving banner) go to stderr.
 *
 * The ring is fed from pino's logMethod hook, with the call's own arguments, before pino
 * serializes them: keeping a record costs a small object and no JSON round trip. In pretty
 * mode the hook writes the line itself and pino never builds the JSON.
 */
import pino from 'pino';
import type { LogRing } from './log-ring.js';
import { recordOf } from './log-record.js';
import { formatPretty } from './log-pretty.js';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOutput {
  write(line: string): unknown;
  flushSync?(): void;
}

export interface LoggerOptions {
  /** JSON lines (default), or readable lines for a person at a terminal. */
  format?: LogFormat;
  /** ANSI colours in pretty lines. */
  color?: boolean;
  /** Keeps every record written, for the admin API. */
  ring?: LogRing | undefined;
  /** Where lines go (default stdout, written asynchronously). */
  output?: LogOutput;
}

/** Pretty on a terminal, JSON for anything that reads stdout as data; the flag wins. */
export function defaultLogFormat(flag: LogFormat | undefined, stdoutIsTty: boolean): LogFormat {
  return flag ?? (stdoutIsTty ? 'pretty' : 'json');
}

export function createLogger(level: LogLevel = 'info', opts: LoggerOptions = {}): { logger: Logger; flush: () => void } {
  // Asynchronous writes batch lines while one write is in flight, keeping the request path off
  // a write(2) per line; flush() on shutdown makes sure nothing is lost on a clean exit.
  const output: LogOutput = opts.output ?? pino.destination({ dest: 1, sync: false });
  const { ring } = opts;
  const pretty = opts.format === 'pretty';
  const style = { color: opts.color === true };
  const hooks: pino.LoggerOptions['hooks'] = {
    logMethod(args, method, levelValue) {
      const record = ring ? ring.push(args, levelValue) : recordOf(args, levelValue, Date.now(), 0);
      if (pretty) output.write(formatPretty(record, style) + '\n');
      else method.apply(this, args);
    },
  };
  const logger = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // JSON without a ring needs no hook: pino's own path, untouched.
      ...(ring || pretty ? { hooks } : {}),
    },
    output as pino.DestinationStream,
  );
  return { logger, flush: () => output.flushSync?.() };
}
