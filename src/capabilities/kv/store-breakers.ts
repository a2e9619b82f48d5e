/**
 * Two circuit breakers per store, one for reads and one for writes. A SQLite file whose write
 * lock is held (or whose disk is full, or is read-only) still serves reads; one shared breaker
 * would be reset by every successful read and never open, while the writes behind it each waited
 * out the lock. Split, the failing side fails fast and the healthy side keeps serving.
 */
import type { KvOp } from '../../dispatch/protocol.js';
import { createBreaker, type Breaker, type BreakerState } from './breaker.js';

export type BreakerSide = 'read' | 'write';
export type OnBreakerChange = (store: string, side: BreakerSide, state: BreakerState, reason: string | undefined) => void;
/** A breaker change as the node hears of it: which app's store (two apps may each have a store "default"). */
export type OnAppBreakerChange = (app: string, store: string, side: BreakerSide, state: BreakerState, reason: string | undefined) => void;

const READS: ReadonlySet<KvOp['method']> = new Set(['get', 'exists', 'listKeys']);

export function sideOf(op: KvOp): BreakerSide {
  return READS.has(op.method) ? 'read' : 'write';
}

export class StoreBreakers {
  private readonly read: Breaker;
  private readonly write: Breaker;

  constructor(store: string, onChange?: OnBreakerChange) {
    const make = (side: BreakerSide) =>
      createBreaker({ name: `${store} (${side}s)`, onStateChange: (state, reason) => onChange?.(store, side, state, reason) });
    this.read = make('read');
    this.write = make('write');
  }

  for(op: KvOp): Breaker {
    return sideOf(op) === 'read' ? this.read : this.write;
  }
}
