/**
 * This worker's connections to stores whose backend runs in the worker (SQLite files), each
 * behind its own circuit breaker. Opened on first use, kept for the worker's life. Stores on other backends
 * are reached over the host bridge instead.
 */
import type { SyncKvStore } from '../../backends/store.js';
import { BACKENDS } from '../../backends/registry.js';
import type { ComponentGrants, KvOp } from '../../dispatch/protocol.js';
import { StoreBreakers, type OnBreakerChange } from './store-breakers.js';

type StoreGrant = ComponentGrants['kvStores'][number];

export class WorkerStores {
  private readonly breakers = new Map<string, StoreBreakers>();
  private readonly open = new Map<string, SyncKvStore>();

  constructor(private readonly onBreaker: OnBreakerChange) {}

  /**
   * Runs `op` on the grant's store in this worker, behind the store's breaker for that side;
   * returns `remote` when the store's backend lives on the main thread.
   */
  run<T>(grant: StoreGrant, op: KvOp, apply: (store: SyncKvStore) => T): T | typeof REMOTE {
    const backend = BACKENDS[grant.backend];
    if (backend.runsIn !== 'worker') return REMOTE;
    const where = grant.address ?? grant.name;
    let breakers = this.breakers.get(where);
    if (!breakers) this.breakers.set(where, (breakers = new StoreBreakers(grant.name, this.onBreaker)));
    return breakers.for(op).call(() => {
      // Opening can fail too (a missing folder, a corrupt file): that counts against the breaker.
      let store = this.open.get(where);
      if (!store) this.open.set(where, (store = backend.open({ address: grant.address })));
      return apply(store);
    });
  }

  /** A run was stopped in the middle of an operation (sandbox/chained.ts): what any store's operation left open is undone. */
  recover(): void {
    for (const store of this.open.values()) store.recover?.();
  }

}

export const REMOTE: unique symbol = Symbol('remote store');
