/**
 * Settings shared by the *.fuzz.test.ts property tests: a fixed seed so a failure reproduces, and
 * a run count that stays small in `npm test` and grows with FUZZ_RUNS (`npm run fuzz`).
 */
import type { Parameters } from 'fast-check';

export const FUZZ_SEED = 20261130;

export function fuzzRuns(fallback = 1000): number {
  const n = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function fuzzParameters<T>(fallbackRuns?: number): Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: fuzzRuns(fallbackRuns) };
}
