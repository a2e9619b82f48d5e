/**
 * The verge:v1 import object: every capability's WAGI binding, assembled in one literal so this is
 * the one place to see what a guest can import.
 */
import type { GuestScope } from './guest-scope.js';
import { kvImports } from './kv/bindings/wasi-p1.js';
import { loggingImports } from './logging/bindings/wasi-p1.js';
import { outboundImports } from './outbound-http/bindings/wasi-p1.js';
import { variablesImports } from './variables/bindings/wasi-p1.js';

export function createVergeImports(scope: GuestScope): Record<string, (...args: never[]) => number> {
  return {
    ...kvImports(scope),
    ...outboundImports(scope),
    ...variablesImports(scope),
    ...loggingImports(scope),
  };
}
