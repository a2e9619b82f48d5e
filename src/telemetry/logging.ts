/** JSON lines on stdout (pino). Human messages (the serving banner) go to stderr. */
import pino from 'pino';

export type Logger = pino.Logger;
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel = 'info'): { logger: Logger; flush: () => void } {
  // Asynchronous writes batch lines while one write is in flight, keeping the request path off
  // a write(2) per line; flush() on shutdown makes sure nothing is lost on a clean exit.
  const destination = pino.destination({ dest: 1, sync: false });
  const logger = pino(
    {
      level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
  return { logger, flush: () => destination.flushSync() };
}
