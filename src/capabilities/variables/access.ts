/** Variables inside a worker, shared by both bindings. Values never reach the log: a denial names the variable only. */
import { HostCallError } from '../abi.js';
import type { GuestScope } from '../../sandbox/scope.js';

export function variablesAccess(scope: GuestScope) {
  return {
    get(name: string): string | undefined {
      // The span names the variable, never its value.
      return scope.traced('variables', 'variables.get', () => ({ 'verge.variable.name': name }), () => {
        const { grants, component } = scope.frame;
        const v = grants.variables.find((g) => g.name === name);
        if (!v) throw new HostCallError('ACCESS_DENIED', `variable ${JSON.stringify(name)} is not granted to component ${component}`);
        return v.value;
      }, (value) => (value === undefined ? 'NOT_FOUND' : undefined));
    },
    all(): Array<[string, string]> {
      return scope.frame.grants.variables.flatMap((v) => (v.value === undefined ? [] : [[v.name, v.value] as [string, string]]));
    },
  };
}
