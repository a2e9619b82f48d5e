/** wasi:logging for components: records share the request's log budget with stdout and stderr lines. */
import type { GuestScope } from '../../../sandbox/scope.js';
import type { LogLevelName } from '../levels.js';

const LOG_LEVELS: Record<string, LogLevelName> = {
  trace: 'trace',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
  critical: 'error',
};

export function loggingComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  return {
    'wasi:logging/logging': {
      log: (level: string, context: string, message: string) =>
        scope.measured('logging', () => scope.log(LOG_LEVELS[level] ?? 'info', context ? `${context}: ${message}` : message, 'guest')),
    },
  };
}
