/**
 * The merge rules of a replicated store (docs/cluster.md, "Replicated stores"), as pure functions
 * over one key's state, so that every replica that has applied the same set of changes, in any
 * order and however often each, holds the same state.
 *
 * A key's state is a last-writer-wins register and a PN-counter:
 * - the register holds the value written by the `set` (or compare-and-swap) with the highest
 *   stamp, or a tombstone for a `delete`; the hybrid-logical-clock stamp orders writes, and its
 *   replica id breaks ties;
 * - the counter holds one entry per replica — the sums of its positive (`p`) and negative (`n`)
 *   increments — each tagged with the register stamp it counts on top of (its epoch). Entries only
 *   grow, so merging takes the larger of each; a write with a later stamp starts a new epoch, and
 *   entries of older epochs no longer count (a `set` or `delete` replaces the counter, as it does on
 *   one node).
 * The value: the register's bytes when no entry counts on it, otherwise the register as a decimal
 * (0 for a tombstone or no register) plus the sum of p − n of the entries of its epoch.
 */
import { compareStamps, NO_STAMP, type Stamp } from './hlc.js';

export interface Register {
  /** The value, or null for a tombstone. */
  value: Uint8Array | null;
  stamp: Stamp;
}

export interface CounterEntry {
  replica: string;
  /** The register stamp these increments count on top of. */
  epoch: Stamp;
  p: bigint;
  n: bigint;
}

/** One change, as it travels between replicas: a replica's register write, or its whole counter entry. */
export type Change =
  | { kind: 'register'; key: string; origin: string; register: Register }
  | { kind: 'counter'; key: string; entry: CounterEntry };

/** True if `incoming` replaces `current` (a later stamp; equal stamps are the same write). */
export function registerWins(incoming: Register, current: Register | undefined): boolean {
  return current === undefined || compareStamps(incoming.stamp, current.stamp) > 0;
}

/** The epoch increments count on: the register's stamp, or NO_STAMP for a key never written. */
export function epochOf(register: Register | undefined): Stamp {
  return register?.stamp ?? NO_STAMP;
}

/**
 * `incoming` merged into `current` (the same replica's entry for the key), or undefined when it
 * changes nothing: an older epoch loses; in the same epoch each sum takes the larger.
 */
export function mergeEntry(incoming: CounterEntry, current: CounterEntry | undefined): CounterEntry | undefined {
  if (current === undefined) return incoming;
  const order = compareStamps(incoming.epoch, current.epoch);
  if (order < 0) return undefined;
  if (order > 0) return incoming;
  if (incoming.p <= current.p && incoming.n <= current.n) return undefined;
  return { ...current, p: incoming.p > current.p ? incoming.p : current.p, n: incoming.n > current.n ? incoming.n : current.n };
}

/** The sum the entries of the register's epoch add, or undefined when none counts on it. */
export function counterSum(register: Register | undefined, entries: readonly CounterEntry[]): bigint | undefined {
  const epoch = epochOf(register);
  let sum: bigint | undefined;
  for (const e of entries) if (e.epoch === epoch) sum = (sum ?? 0n) + e.p - e.n;
  return sum;
}

/**
 * The key's value, or undefined for none. A register whose bytes are not a decimal integer cannot
 * have entries counting on it (increment refuses it on every replica), so `base` never fails here.
 */
export function valueOf(register: Register | undefined, entries: readonly CounterEntry[], parse: (bytes: Uint8Array) => bigint | undefined): Uint8Array | undefined {
  const sum = counterSum(register, entries);
  if (sum === undefined) return register?.value ?? undefined;
  const base = register?.value ? parse(register.value) ?? 0n : 0n;
  return new TextEncoder().encode(String(base + sum));
}

/** The entry after this replica adds `delta` to it in `epoch`. */
export function addToEntry(current: CounterEntry | undefined, replica: string, epoch: Stamp, delta: bigint): CounterEntry {
  const base = current !== undefined && current.epoch === epoch ? current : { replica, epoch, p: 0n, n: 0n };
  return delta >= 0n ? { ...base, p: base.p + delta } : { ...base, n: base.n - delta };
}
