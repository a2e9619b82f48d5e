/**
 * Settings shared by the *.fuzz.test.ts property tests: a fixed seed so a failure reproduces, and
 * a run count that stays small in `npm test` and grows with FUZZ_RUNS (`npm run fuzz`).
 */
import fc, { type Parameters } from 'fast-check';

export const FUZZ_SEED = 20261130;

export function fuzzRuns(fallback = 1000): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function fuzzParameters<T>(fallbackRuns?: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: fuzzRuns(fallbackRuns) };
}

export type Mutation = { op: 'set' | 'insert' | 'delete' | 'truncate'; at: number; value: number };

/** A few edits to a binary: bytes set (twice as often), inserted or deleted, or the rest cut off. */
export const mutationsArb = fc.array(
  fc.record({ op: fc.constantFrom('set', 'set', 'insert', 'delete', 'truncate'), at: fc.nat(), value: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff)) }),
  { minLength: 1, maxLength: 6 },
) as fc.Arbitrary<Mutation[]>;

/** Applies `mutations` to a copy of a WebAssembly binary; they never touch its 8-byte header, so they reach the sections. */
export function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  const out = [...bytes];
  for (const m of mutations) {
    const at = 8 + (m.at % Math.max(1, out.length - 8 + 1));
    if (m.op === 'set' && at < out.length) out[at] = m.value;
    else if (m.op === 'insert') out.splice(at, 0, m.value);
    else if (m.op === 'delete') out.splice(at, 1);
    else if (m.op === 'truncate') out.length = Math.max(8, at);
  }
  return Uint8Array.from(out);
}
