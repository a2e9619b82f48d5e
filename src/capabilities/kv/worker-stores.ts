/**
 * This worker's connections to stores it can reach synchronously (SQLite files), each behind its
 * own circuit breaker. Opened on first use, kept for the worker's life. Stores on other backends
 * are reached over the host bridge instead.
 */
import type { SyncKvStore } from '../../backends/store.js';
import { openSqliteStore } from '../../backends/sqlite/sqlite-store.js';
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
    if (grant.backend !== 'sqlite' || !grant.file) return REMOTE;
    const file = grant.file;
    let breakers = this.breakers.get(file);
    if (!breakers) this.breakers.set(file, (breakers = new StoreBreakers(grant.name, this.onBreaker)));
    return breakers.for(op).call(() => {
      // Opening can fail too (a missing folder, a corrupt file): that counts against the breaker.
      let store = this.open.get(file);
      if (!store) this.open.set(file, (store = openSqliteStore(file)));
      return apply(store);
    });
  }

}

export const REMOTE: unique symbol = Symbol('remote store');
