/**
 * A replicated store: the KvStore contract on the local replica (replica.ts), with the link to
 * JetStream (link.ts) running beside it. Every call answers from the replica, so the store serves
 * with or without NATS; only the replication status tells the two apart.
 */
import { asyncView, type KvStore } from '../store.js';
import { startLink, type LinkOptions } from './link.js';
import { openReplica } from './replica.js';
import { trackReplication, type ReplicationStatus } from './status.js';

export interface ReplicatedKvStore extends KvStore {
  replication(): ReplicationStatus;
}

export function createReplicatedStore(opts: { file: string; link: LinkOptions; labels: { app: string; store: string } }): ReplicatedKvStore {
  const replica = openReplica(opts.file, opts.link.subjectPrefix);
  const link = startLink(replica, opts.link);
  // The replica closes after the link, in close() below, not when the view does.
  const local = asyncView({ ...replica, kind: 'replicated', close: () => {} });
  let closed = false;
  // Each write queues a change: the link sends it at once instead of at its next look.
  const poking = <A extends unknown[], R>(fn: (...args: A) => Promise<R>) => async (...args: A): Promise<R> => {
    const result = await fn(...args);
    link.poke();
    return result;
  };
  const store: ReplicatedKvStore = {
    ...local,
    set: poking(local.set),
    delete: poking(local.delete),
    increment: poking(local.increment),
    compareAndSwap: poking(local.compareAndSwap),
    replication() {
      const s = closed ? { queued: 0, oldestQueuedAt: undefined, cursor: 0, streamCreated: undefined } : replica.stats();
      const l = link.status();
      return {
        ...opts.labels,
        replica: replica.id,
        stream: opts.link.stream,
        connected: l.connected,
        last_error: l.lastError,
        queued_changes: s.queued,
        lag_ms: s.oldestQueuedAt === undefined ? 0 : Math.max(0, Date.now() - s.oldestQueuedAt),
        inbound_pending: l.inboundPending,
        applied_sequence: s.cursor,
        received: l.received,
      };
    },
    async close() {
      if (closed) return;
      closed = true;
      untrack();
      await link.close();
      replica.close();
    },
  };
  const untrack = trackReplication(store);
  return store;
}
