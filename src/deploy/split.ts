/**
 * A deployment's traffic split: an ordered list of versions with integer weights. A request goes
 * to the version whose cumulative share of the total weight covers a point in [0, 1): the point is
 * a stable hash of the request's sticky key when it has one, Math.random otherwise.
 *
 * Ramp property: laying the versions end to end on [0, 1), the first entry owns [0, s) and the
 * last owns [1 - s, 1), where s is its share. Raising the share of the first or the last entry
 * (the others keeping their ratios) only widens its interval, so every key it already had stays
 * on it, and every other key either stays or moves towards it. Put a canary first or last: ramping
 * it 5 → 50 → 100 then only ever moves keys onto it. A middle entry has no such guarantee (its
 * interval slides when an earlier entry's share changes).
 *
 * The hash is FNV-1a over the key's UTF-16 code units with murmur3's finaliser, so it is the same
 * on every node and across restarts. Stickiness is not access control: a client that picks its
 * own key picks its version.
 */
import { describeJson, integerIn, isObject, knownKeysOnly, type ProblemSink } from './problems.js';

export interface SplitEntry {
  readonly version: string;
  readonly weight: number;
}

/** At least one entry, weights non-negative integers with a positive total. */
export type Split = readonly SplitEntry[];

export const SPLIT_LIMITS = {
  /** Entries in one split. */
  maxVersions: 100,
  /** The sum of the weights. Under 2^21, so a 32-bit hash times the total is exact in a double. */
  maxTotalWeight: 1_000_000,
} as const;

/** A version id as a split, an override or an override cookie names it (no "." or ";": the cookie uses them as separators). */
export const VERSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The split in `raw` (`[{ "version": "…", "weight": 95 }, …]`), or undefined after reporting every
 * problem to `problems` under `path` (`split[1].weight`).
 */
export function parseSplit(raw: unknown, path: string, problems: ProblemSink): Split | undefined {
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > SPLIT_LIMITS.maxVersions) {
    problems.add(path, `expected an array of 1 to ${SPLIT_LIMITS.maxVersions} entries { "version": …, "weight": … }, got ${Array.isArray(raw) ? `${raw.length} entries` : describeJson(raw)}`);
    return undefined;
  }
  const entries: SplitEntry[] = [];
  let ok = true;
  raw.forEach((item: unknown, i) => {
    const entry = parseEntry(item, `${path}[${i}]`, problems);
    if (!entry) ok = false;
    else if (entries.some((e) => e.version === entry.version)) {
      problems.add(`${path}[${i}].version`, `version ${JSON.stringify(entry.version)} is listed twice`);
      ok = false;
    } else entries.push(entry);
  });
  if (!ok) return undefined;
  const total = entries.reduce((sum, e) => sum + e.weight, 0);
  if (total === 0 || total > SPLIT_LIMITS.maxTotalWeight) {
    problems.add(path, `expected weights adding up to 1 to ${SPLIT_LIMITS.maxTotalWeight}, got ${total}${total === 0 ? ' (no version would serve)' : ''}`);
    return undefined;
  }
  return Object.freeze(entries.map((e) => Object.freeze(e)));
}

function parseEntry(item: unknown, path: string, problems: ProblemSink): SplitEntry | undefined {
  if (!isObject(item)) {
    problems.add(path, `expected an object { "version": …, "weight": … }, got ${describeJson(item)}`);
    return undefined;
  }
  const clean = knownKeysOnly(item, ['version', 'weight'], path, problems);
  const version = typeof item.version === 'string' && VERSION_ID.test(item.version) ? item.version : undefined;
  if (version === undefined) problems.add(`${path}.version`, `expected a version id (1 to 128 letters, digits, "-" or "_"), got ${describeJson(item.version)}`);
  const weight = integerIn(item.weight, `${path}.weight`, problems, {
    min: 0,
    max: SPLIT_LIMITS.maxTotalWeight,
    unit: 'a share of the total weight',
    subject: version === undefined ? undefined : `version ${JSON.stringify(version)}`,
  });
  return !clean || version === undefined || weight === undefined ? undefined : { version, weight };
}

/**
 * The version that serves a request: by `key` when given (the same key, the same version while the
 * weights stay the same), by `random` otherwise. `split` must be valid (parseSplit).
 */
export function pick(split: Split, key?: string, random: () => number = Math.random): string {
  let total = 0;
  for (let i = 0; i < split.length; i++) total += split[i]!.weight;
  const point = key === undefined ? random() : hashKey(key) / 2 ** 32;
  const target = point * total;
  let covered = 0;
  // A random() outside [0, 1) would pass every entry: the last version with weight serves it.
  let last = split[0]!.version;
  for (let i = 0; i < split.length; i++) {
    const entry = split[i]!;
    if (entry.weight === 0) continue;
    covered += entry.weight;
    last = entry.version;
    if (target < covered) return last;
  }
  return last;
}

/** A 32-bit hash of `key`, stable across processes: FNV-1a, then murmur3's fmix32 to spread the bits. */
export function hashKey(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
