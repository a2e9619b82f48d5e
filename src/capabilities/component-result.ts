/** What the wasi:* bindings of every capability share: a refusal becomes the interface's error value. */
import { HostCallError } from './abi.js';
import type { GuestScope } from '../sandbox/scope.js';
import { err, ok, type Result } from '../sandbox/component/wasi-io.js';

/** Runs a capability call; a refusal is logged (naming what was refused) and returned as the interface's error. */
export function guarded<T, E>(scope: GuestScope, api: string, fn: () => T, toError: (e: HostCallError) => E): Result<T, E> {
  try {
    return ok(fn());
  } catch (e) {
    if (e instanceof HostCallError) {
      scope.report(api, e);
      return err(toError(e));
    }
    throw e;
  }
}

/** Interfaces whose error is a string carry the verge:v1 status name first, so a guest can tell refusals apart. */
export const described = (e: HostCallError): string => `${e.status}: ${e.message}`;
