/**
 * The node's recent log records, in memory, and live subscriptions to new ones: what GET
 * /v1/logs and the dashboard read. The logger pushes every record it writes; pushing stores
 * a reference (no copy, no serialization), and subscribers get new records in batches on a
 * later turn of the event loop, so a reader following the log never costs the request that
 * logged.
 */
import { matches, type LogFilter } from './log-filter.js';
import { recordOf, type LogRecord } from './log-record.js';

/**
 * Records kept. At the guest-log cap (4 KiB a line) this bounds the ring near 20 MiB; typical
 * access-log records are a few hundred bytes.
 */
export const LOG_RING_CAPACITY = 5000;

export interface LogSubscription {
  close(): void;
}

export interface LogRing {
  readonly capacity: number;
  /** The seq of the newest record (0 before any). */
  readonly lastSeq: number;
  /** Stores the record of one logger call (its arguments as given to pino, its level number). */
  push(args: readonly unknown[], level: number): LogRecord;
  /** Up to `limit` of the newest records that match, oldest first; only those after `afterSeq` when given. */
  recent(filter: LogFilter, limit: number, afterSeq?: number): LogRecord[];
  /** `deliver` gets each batch of new matching records, oldest first, after the current turn. */
  subscribe(filter: LogFilter, deliver: (records: LogRecord[]) => void): LogSubscription;
}

interface Subscriber {
  filter: LogFilter;
  deliver: (records: LogRecord[]) => void;
  /** Records up to this one were already there when it subscribed (it reads those with `recent`). */
  fromSeq: number;
}

export function createLogRing(capacity = LOG_RING_CAPACITY): LogRing {
  const slots: Array<LogRecord | undefined> = new Array(capacity);
  let seq = 0;
  const subscribers = new Set<Subscriber>();
  let pending: LogRecord[] = [];
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (const s of subscribers) {
      const picked = batch.filter((r) => r.seq > s.fromSeq && matches(s.filter, r));
      if (picked.length === 0) continue;
      try {
        s.deliver(picked);
      } catch {
        // A reader that fails is dropped: it must not take the node (or the other readers) with it.
        subscribers.delete(s);
      }
    }
  };

  return {
    capacity,
    get lastSeq() {
      return seq;
    },
    push(args, level) {
      const record = recordOf(args, level, Date.now(), ++seq);
      slots[seq % capacity] = record;
      if (subscribers.size > 0) {
        pending.push(record);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      }
      return record;
    },
    recent(filter, limit, afterSeq = 0) {
      const out: LogRecord[] = [];
      const oldest = Math.max(afterSeq + 1, seq - capacity + 1, 1);
      for (let s = seq; s >= oldest && out.length < limit; s--) {
        const r = slots[s % capacity]!;
        if (matches(filter, r)) out.push(r);
      }
      return out.reverse();
    },
    subscribe(filter, deliver) {
      const s: Subscriber = { filter, deliver, fromSeq: seq };
      subscribers.add(s);
      return { close: () => void subscribers.delete(s) };
    },
  };
}
