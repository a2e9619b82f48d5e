/**
 * This worker's connections to stores it can reach synchronously (SQLite files), each behind its
 * own circuit breaker. Opened on first use, kept for the worker's life. Stores on other backends
 * are reached over the host bridge instead.
 */
import type { SyncKvStore } from '../../backends/store.js';
import { openSqliteStore } from '../../backends/sqlite/sqlite-store.js';
import { createBreaker, type Breaker, type BreakerState } from './breaker.js';
import type { ComponentGrants } from '../../dispatch/protocol.js';

type StoreGrant = ComponentGrants['kvStores'][number];

export class WorkerStores {
  private readonly open = new Map<string, { store: SyncKvStore; breaker: Breaker }>();

  constructor(private readonly onBreaker: (store: string, state: BreakerState, reason: string | undefined) => void) {}

  /** The synchronous store for a grant, or undefined when its backend lives on the main thread. */
  local(grant: StoreGrant): { store: SyncKvStore; breaker: Breaker } | undefined {
    if (grant.backend !== 'sqlite' || !grant.file) return undefined;
    let entry = this.open.get(grant.file);
    if (!entry) {
      const breaker = createBreaker({ name: grant.name, onStateChange: (state, reason) => this.onBreaker(grant.name, state, reason) });
      // Opening can fail too (a missing folder, a corrupt file): that counts against the breaker.
      const store = breaker.call(() => openSqliteStore(grant.file!));
      entry = { store, breaker };
      this.open.set(grant.file, entry);
    }
    return entry;
  }

  closeAll(): void {
    for (const { store } of this.open.values()) store.close();
    this.open.clear();
  }
}
