/** wasi:config/store for components: the same grants as verge:v1's variable_get; an error names the status first. */
import type { GuestScope } from '../../../sandbox/scope.js';
import { described, guarded } from '../../component-result.js';
import { ok } from '../../../sandbox/component/wasi-io.js';
import { variablesAccess } from '../access.js';

export function variablesComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  const variables = variablesAccess(scope);
  return {
    'wasi:config/store': {
      get: (key: string) => guarded(scope, 'wasi:config/store.get', () => variables.get(key), (e) => ({ tag: 'upstream', val: described(e) })),
      getAll: () => ok(variables.all()),
    },
  };
}
