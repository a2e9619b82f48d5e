/**
 * A hybrid logical clock (Kulkarni et al., 2014): wall-clock milliseconds plus a logical counter,
 * so stamps follow real time where clocks agree and still respect causality where they do not
 * (a node that saw a write always stamps later writes above it, however far its clock lags).
 *
 * A stamp is a string that sorts as the clock does: 12 hex digits of milliseconds, 6 of the
 * counter, then the replica id, which breaks ties between replicas deterministically. The empty
 * string is below every stamp: the epoch of a key nothing has ever set.
 */
export type Stamp = string;

export const NO_STAMP: Stamp = '';
const WALL_DIGITS = 12;
const LOGICAL_DIGITS = 6;
const LOGICAL_MAX = 16 ** LOGICAL_DIGITS - 1;
const STAMP = /^([0-9a-f]{12})\.([0-9a-f]{6})\.([-\w]{1,64})$/;

export interface StampParts {
  wallMs: number;
  logical: number;
  replica: string;
}

export function formatStamp({ wallMs, logical, replica }: StampParts): Stamp {
  return `${wallMs.toString(16).padStart(WALL_DIGITS, '0')}.${logical.toString(16).padStart(LOGICAL_DIGITS, '0')}.${replica}`;
}

/** The parts of a stamp, or undefined for a string no clock made (a foreign or corrupt message). */
export function parseStamp(stamp: string): StampParts | undefined {
  const m = STAMP.exec(stamp);
  return m ? { wallMs: parseInt(m[1]!, 16), logical: parseInt(m[2]!, 16), replica: m[3]! } : undefined;
}

/**
 * Total order of stamps: by wall time, then counter (both fixed-width, so string order is numeric
 * order), then replica id. Plain string comparison does exactly that.
 */
export function compareStamps(a: Stamp, b: Stamp): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface HybridClock {
  /** A stamp above every stamp this clock made or saw. */
  now(): Stamp;
  /** Takes in a stamp from another replica, so later local stamps sort above it. */
  observe(stamp: Stamp): void;
  /** The latest state, for persisting: a restarted replica resumes above it even if its clock went back. */
  last(): Stamp;
}

/** `replica` must be a stamp-safe id; `restored` is the last stamp persisted before a restart. */
export function createHybridClock(replica: string, physicalMs: () => number = Date.now, restored: Stamp = NO_STAMP): HybridClock {
  if (!/^[-\w]{1,64}$/.test(replica)) throw new RangeError(`replica id ${JSON.stringify(replica)}: expected letters, digits, "-" and "_", at most 64`);
  const from = parseStamp(restored);
  let wall = from?.wallMs ?? 0;
  let logical = from?.logical ?? 0;

  const advance = (otherWall: number, otherLogical: number) => {
    const pt = physicalMs();
    const top = Math.max(wall, otherWall, pt);
    if (top === wall && top === otherWall) logical = Math.max(logical, otherLogical) + 1;
    else if (top === wall) logical += 1;
    else if (top === otherWall) logical = otherLogical + 1;
    else logical = 0;
    wall = top;
    // 16.7 million events in one millisecond: spill into the next millisecond rather than wrap.
    if (logical > LOGICAL_MAX) {
      wall += 1;
      logical = 0;
    }
  };

  return {
    now() {
      advance(-1, -1);
      return formatStamp({ wallMs: wall, logical, replica });
    },
    observe(stamp) {
      const p = parseStamp(stamp);
      if (p) advance(p.wallMs, p.logical);
    },
    last: () => formatStamp({ wallMs: wall, logical, replica }),
  };
}
