/**
 * The deadline of the request a main-thread store call serves. The key-value host call runs the
 * store operation inside `storeCallDeadline.run(call.deadlineAt, ...)`; a network backend (Redis)
 * bounds its own wait by it, so a call never outlives the request it answers. Carried alongside
 * rather than in the KvStore methods, which every backend shares.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export const storeCallDeadline = new AsyncLocalStorage<number | undefined>();

/** The earlier of `now + boundMs` and the current call's deadline (epoch milliseconds). */
export function callDeadline(boundMs: number, now = Date.now()): number {
  const request = storeCallDeadline.getStore();
  return request === undefined ? now + boundMs : Math.min(now + boundMs, request);
}
