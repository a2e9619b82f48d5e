/** verge:v1 variable_get for WAGI modules. Values never reach the log: denials name the variable only. */
import { HostCallError, Status } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { variablesAccess } from '../access.js';

const encoder = new TextEncoder();

export function variablesImports(scope: GuestScope) {
  const variables = variablesAccess(scope);
  return {
    variable_get: (namePtr: number, nameLen: number, outPtr: number, outCap: number) =>
      scope.guard('variable_get', () => {
        const name = scope.memory.string(namePtr, nameLen, 'variable_get');
        if (name === undefined) throw new HostCallError('INVALID_ARGUMENT', 'the variable name is not valid UTF-8');
        const value = variables.get(name);
        return value === undefined ? Status.NOT_FOUND : scope.memory.writeOut(outPtr, outCap, encoder.encode(value), 'variable_get');
      }),
  };
}
