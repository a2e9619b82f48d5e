/**
 * A circuit breaker per store: after repeated backend failures, calls fail fast with UNAVAILABLE
 * instead of each waiting out a timeout, until a trial call finds the backend healthy again.
 *
 * Written here rather than taken from cockatiel or opossum because those wrap only functions
 * returning Promises, and a worker thread calls SQLite synchronously while its guest waits: the
 * same breaker must guard `call(() => store.get(key))` without an event loop turn.
 */
import { StoreError } from '../../backends/store.js';

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** The store's name, for messages. */
  readonly name?: string;
  /** What messages call it: `store <name>` unless given (a database's breaker names the database). */
  readonly subject?: string;
  /** Consecutive backend failures that open the circuit. */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one trial call is let through. */
  readonly cooldownMs?: number;
  readonly now?: () => number;
  readonly onStateChange?: (state: BreakerState, reason?: string) => void;
}

export interface Breaker {
  readonly state: BreakerState;
  call<T>(fn: () => T): T;
  callAsync<T>(fn: () => Promise<T>): Promise<T>;
}

export const BREAKER_DEFAULTS = Object.freeze({
  name: 'unnamed',
  failureThreshold: 5,
  cooldownMs: 5000,
});

/**
 * Only a failing backend counts: UNAVAILABLE and TIMEOUT. NOT_A_NUMBER is the guest's doing and
 * other errors are bugs in Verge; neither says anything about the backend's health, so they
 * neither count as a failure nor reset the count.
 */
function isBackendFailure(err: unknown): err is StoreError {
  return err instanceof StoreError && (err.reason === 'UNAVAILABLE' || err.reason === 'TIMEOUT');
}

export function createBreaker(options: BreakerOptions = {}): Breaker {
  const name = options.name ?? BREAKER_DEFAULTS.name;
  const subject = options.subject ?? `store ${name}`;
  const failureThreshold = options.failureThreshold ?? BREAKER_DEFAULTS.failureThreshold;
  const cooldownMs = options.cooldownMs ?? BREAKER_DEFAULTS.cooldownMs;
  const now = options.now ?? Date.now;
  const onStateChange = options.onStateChange;
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    throw new RangeError(`breaker for ${subject}: failureThreshold must be an integer >= 1, got ${failureThreshold}`);
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs < 0) {
    throw new RangeError(`breaker for ${subject}: cooldownMs must be a finite number >= 0, got ${cooldownMs}`);
  }

  let state: BreakerState = 'closed';
  let failures = 0;
  let openedAt = 0;
  let lastFailure: StoreError | undefined;
  let trialInFlight = false;
  // Bumped at every transition. An async call admitted before a transition reports into an era
  // that is over (a slow call that fails after the circuit already opened, say), and is ignored.
  let era = 0;

  function transition(next: BreakerState, reason: string): void {
    state = next;
    era += 1;
    onStateChange?.(next, reason);
  }

  /** Decides whether a call may run now; returns the era it runs in. */
  function admit(): number {
    if (state === 'open') {
      const waited = now() - openedAt;
      if (waited < cooldownMs) {
        throw new StoreError(
          'UNAVAILABLE',
          `circuit open for ${subject} after ${failureThreshold} consecutive failures, retrying after ${Math.ceil(cooldownMs - waited)} ms (cooldown ${cooldownMs} ms)`,
          { cause: lastFailure },
        );
      }
      transition('half-open', `cooldown of ${cooldownMs} ms elapsed; letting one trial call through`);
    }
    if (state === 'half-open') {
      if (trialInFlight) {
        throw new StoreError('UNAVAILABLE', `circuit half-open for ${subject}: a trial call is in flight, others wait for its outcome`, { cause: lastFailure });
      }
      trialInFlight = true;
    }
    return era;
  }

  function succeeded(admittedIn: number): void {
    if (admittedIn !== era) return;
    if (state === 'half-open') {
      trialInFlight = false;
      failures = 0;
      transition('closed', 'trial call succeeded');
      return;
    }
    failures = 0;
  }

  function failed(admittedIn: number, err: unknown): void {
    if (admittedIn !== era) return;
    if (state === 'half-open') trialInFlight = false;
    if (!isBackendFailure(err)) return; // a half-open circuit stays half-open: the next call is the trial
    lastFailure = err;
    if (state === 'half-open') {
      openedAt = now();
      transition('open', `trial call failed: ${err.message}`);
      return;
    }
    failures += 1;
    if (failures >= failureThreshold) {
      openedAt = now();
      transition('open', `${failures} consecutive failures, the last: ${err.message}`);
    }
  }

  return {
    get state() {
      return state;
    },

    call<T>(fn: () => T): T {
      const admittedIn = admit();
      let result: T;
      try {
        result = fn();
      } catch (err) {
        failed(admittedIn, err);
        throw err;
      }
      succeeded(admittedIn);
      return result;
    },

    async callAsync<T>(fn: () => Promise<T>): Promise<T> {
      const admittedIn = admit();
      let result: T;
      try {
        result = await fn();
      } catch (err) {
        failed(admittedIn, err);
        throw err;
      }
      succeeded(admittedIn);
      return result;
    },
  };
}
