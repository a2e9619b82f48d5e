/** verge:v1 log for WAGI modules: a JSON log record with the request id, within the per-request budget. */
import { HostCallError, Status } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { LOG_LEVEL_NAMES } from '../levels.js';

export function loggingImports(scope: GuestScope) {
  return {
    log: (level: number, msgPtr: number, msgLen: number) =>
      scope.guard('log', () =>
        scope.measured('logging', () => {
          const name = LOG_LEVEL_NAMES[level];
          if (name === undefined) throw new HostCallError('INVALID_ARGUMENT', `level must be 0 (trace) to 4 (error), got ${level}`);
          const text = scope.memory.string(msgPtr, msgLen, 'log');
          if (text === undefined) throw new HostCallError('INVALID_ARGUMENT', 'the message is not valid UTF-8');
          scope.log(name, text);
          return Status.OK;
        }),
      ),
  };
}
