/**
 * Test helpers for src/deploy: a seeded random source, so statistical tests give the same numbers
 * every run, and shortcuts for the deploy-request parsers.
 */
import assert from 'node:assert/strict';
import type { ProblemSink } from './problems.js';

/** mulberry32: a small, well-mixed 32-bit generator; `seed` picks the sequence. Values in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A sink that keeps each problem as `path: message`, in order. */
export function collectProblems(): ProblemSink & { list: string[] } {
  const list: string[] = [];
  return { add: (path, message) => list.push(`${path}: ${message}`), list };
}

type Parser<T> = (raw: unknown, path: string, problems: ProblemSink) => T | undefined;

/** What `parse` makes of `raw`, asserting it reported no problem. */
export function parsedClean<T>(parse: Parser<T>, raw: unknown, path: string): T | undefined {
  const problems = collectProblems();
  const value = parse(raw, path, problems);
  assert.deepEqual(problems.list, []);
  return value;
}

/** The problems `parse` reports for `raw`, asserting it gave no value. */
export function problemsFrom<T>(parse: Parser<T>, raw: unknown, path: string): string[] {
  const problems = collectProblems();
  assert.equal(parse(raw, path, problems), undefined);
  return problems.list;
}

/** Whether `observed` successes out of `n` are within `sigmas` standard deviations of share `p`. */
export function withinSigmas(observed: number, n: number, p: number, sigmas: number): boolean {
  return Math.abs(observed - n * p) <= sigmas * Math.sqrt(n * p * (1 - p));
}
