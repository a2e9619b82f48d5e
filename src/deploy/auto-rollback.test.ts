import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_THRESHOLDS, ROLLBACK_RULES, judge, parseThresholds, type RollbackThresholds } from './auto-rollback.js';
import { SlidingWindow, type Snapshot } from './window.js';
import { parsedClean, problemsFrom, seededRandom } from './fixtures.js';

function snapshot(requests: number, errors5xx: number, p99Ms: number | null = requests ? 100 : null): Snapshot {
  return { requests, errors5xx, errorRate: requests ? errors5xx / requests : 0, p50Ms: p99Ms === null ? null : p99Ms / 4, p99Ms };
}

function binomial(random: () => number, n: number, p: number): number {
  let k = 0;
  for (let i = 0; i < n; i++) if (random() < p) k++;
  return k;
}

/** A window of `n` requests with log-normal latencies (median `medianMs`, spread `sigma`) scaled by `slower`. */
function latencyWindow(random: () => number, n: number, medianMs: number, sigma: number, slower = 1): Snapshot {
  const window = new SlidingWindow({ now: () => 0 });
  for (let i = 0; i < n; i++) {
    const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    window.record(200, slower * medianMs * Math.exp(sigma * gaussian));
  }
  return window.snapshot();
}

const T = DEFAULT_THRESHOLDS;

describe('judge', () => {
  test('rolls back a failing canary, saying why in a sentence an operator reads', () => {
    assert.deepEqual(judge(snapshot(2280, 0), snapshot(120, 49), T), {
      rollback: true,
      reason: '5xx rate 40.8% over the last 60 s against 0% on the stable version (threshold +5 points, 120 requests)',
    });
  });

  test('never rolls back a canary with fewer requests than min_requests, however it fails', () => {
    assert.deepEqual(judge(snapshot(5000, 0), snapshot(99, 99), T), { rollback: false });
    assert.equal(judge(snapshot(5000, 0), snapshot(100, 100), T).rollback, true);
    assert.equal(judge(snapshot(5000, 0), snapshot(100, 100), { ...T, minRequests: 101 }).rollback, false);
  });

  test('keeps a canary whose 5xx rate is over the stable one by less than the threshold', () => {
    assert.equal(judge(snapshot(20_000, 400), snapshot(2000, 120), T).rollback, false, '6 % against 2 %');
    assert.equal(judge(snapshot(20_000, 400), snapshot(2000, 120), { ...T, maxErrorRateIncrease: 0.03 }).rollback, true);
  });

  test('keeps a canary doing better than the stable version', () => {
    assert.equal(judge(snapshot(2000, 600), snapshot(2000, 20, 50), T).rollback, false);
  });

  test('waits for enough requests to tell a moderate regression from chance, then rolls it back', () => {
    const stable = snapshot(20_000, 400);
    assert.equal(judge(stable, snapshot(100, 15), T).rollback, false, '15 of 100 against 2 %: could be chance');
    assert.deepEqual(judge(stable, snapshot(200, 30), T), {
      rollback: true,
      reason: '5xx rate 15% over the last 60 s against 2% on the stable version (threshold +5 points, 200 requests)',
    });
  });

  test('holds a canary to 0 % when the stable version served nothing in the window (a canary at weight 100)', () => {
    assert.deepEqual(judge(snapshot(0, 0), snapshot(500, 200), T), {
      rollback: true,
      reason: '5xx rate 40% over the last 60 s against 0% on the stable version (threshold +5 points, 500 requests)',
    });
  });

  test('rolls back a canary whose p99 is over max_p99_ratio times the stable one once both have 1000 requests', () => {
    assert.deepEqual(judge(snapshot(20_000, 0, 180), snapshot(1500, 0, 2400), T), {
      rollback: true,
      reason: 'p99 2400 ms over the last 60 s against 180 ms on the stable version (13.3x; threshold 2x, 1500 requests)',
    });
    assert.equal(judge(snapshot(20_000, 0, 180), snapshot(999, 0, 2400), T).rollback, false, 'the canary has too few requests for a p99');
    assert.equal(judge(snapshot(999, 0, 180), snapshot(1500, 0, 2400), T).rollback, false, 'the stable version has too few requests for a p99');
    assert.equal(judge(snapshot(20_000, 0, 180), snapshot(1500, 0, 350), T).rollback, false, 'under twice the stable p99');
  });

  test('ignores a p99 increase under 10 ms, whatever the ratio', () => {
    assert.equal(judge(snapshot(20_000, 0, 2), snapshot(2000, 0, 2 + ROLLBACK_RULES.p99MinIncreaseMs - 0.5), T).rollback, false);
    assert.equal(judge(snapshot(20_000, 0, 2), snapshot(2000, 0, 2 + ROLLBACK_RULES.p99MinIncreaseMs), T).rollback, true);
  });

  test('gives the 5xx reason when both rules fire', () => {
    const verdict = judge(snapshot(20_000, 0, 100), snapshot(2000, 1000, 900), { ...T, windowSeconds: 120 });
    assert.ok(verdict.rollback && verdict.reason.startsWith('5xx rate 50% over the last 120 s'), JSON.stringify(verdict));
  });

  test('does not roll back a healthy canary on noise in the 5xx rate, over 12,000 windows of realistic traffic', () => {
    const random = seededRandom(2024);
    let rolledBack = 0;
    for (const base of [0.001, 0.02, 0.05, 0.2]) {
      for (const [canaryN, stableN] of [[100, 1900], [150, 2850], [400, 400]] as const) {
        for (let trial = 0; trial < 1000; trial++) {
          const stable = snapshot(stableN, binomial(random, stableN, base));
          const canary = snapshot(canaryN, binomial(random, canaryN, base));
          if (judge(stable, canary, T).rollback) rolledBack++;
        }
      }
    }
    assert.equal(rolledBack, 0);
  });

  test('does not roll back a healthy canary on noise in the p99, over 200 windows of heavy-tailed latencies', () => {
    const random = seededRandom(7);
    let rolledBack = 0;
    for (const sigma of [0.5, 1]) {
      for (let trial = 0; trial < 100; trial++) {
        if (judge(latencyWindow(random, 10_000, 30, sigma), latencyWindow(random, 1000, 30, sigma), T).rollback) rolledBack++;
      }
    }
    assert.equal(rolledBack, 0);
  });

  test('rolls back a canary three times slower than the stable version, measured through the window', () => {
    const random = seededRandom(8);
    const verdict = judge(latencyWindow(random, 10_000, 30, 1), latencyWindow(random, 1000, 30, 1, 3), T);
    assert.ok(verdict.rollback && /^p99 \d+ ms over the last 60 s against \d+ ms on the stable version \(\d\.\dx; threshold 2x, 1000 requests\)$/.test(verdict.reason), JSON.stringify(verdict));
  });
});

describe('parseThresholds', () => {
  const parsed = (raw: unknown): RollbackThresholds | undefined => parsedClean(parseThresholds, raw, 'rollback');
  const problemsOf = (raw: unknown): string[] => problemsFrom(parseThresholds, raw, 'rollback');

  test('takes the defaults for an absent object or absent keys', () => {
    assert.equal(parsed(undefined), DEFAULT_THRESHOLDS);
    assert.deepEqual(parsed({}), DEFAULT_THRESHOLDS);
    assert.deepEqual(parsed({ max_error_rate_increase: 0.1, window_seconds: 30 }), { ...DEFAULT_THRESHOLDS, maxErrorRateIncrease: 0.1, windowSeconds: 30 });
    assert.deepEqual(parsed({ min_requests: 20, max_p99_ratio: 1.5 }), { ...DEFAULT_THRESHOLDS, minRequests: 20, maxP99Ratio: 1.5 });
  });

  test('defaults to 100 requests, +5 points of 5xx, twice the p99, over 60 s', () => {
    assert.deepEqual(DEFAULT_THRESHOLDS, { minRequests: 100, maxErrorRateIncrease: 0.05, maxP99Ratio: 2, windowSeconds: 60 });
  });

  test('refuses a percentage where a fraction belongs, saying what the fraction means', () => {
    assert.deepEqual(problemsOf({ max_error_rate_increase: 5 }), ['rollback.max_error_rate_increase: expected a fraction from 0 to 1 (0.05 allows 5 points more 5xx than the stable version), got the number 5']);
  });

  test('refuses every bad value and unknown key at once, naming each', () => {
    assert.deepEqual(problemsOf({ min_requests: 0, max_p99_ratio: 1, window_seconds: 5.5, min_reqs: 3 }), [
      'rollback.min_reqs: is not a known key (expected "min_requests", "max_error_rate_increase", "max_p99_ratio", "window_seconds")',
      'rollback.min_requests: expected an integer from 1 to 1000000 (requests in the window), got the number 0',
      'rollback.max_p99_ratio: expected a number above 1, at most 1000 (2 allows twice the stable p99), got the number 1',
      'rollback.window_seconds: expected an integer from 10 to 600 (seconds), got the number 5.5',
    ]);
    assert.deepEqual(problemsOf('strict'), ['rollback: expected an object with any of "min_requests", "max_error_rate_increase", "max_p99_ratio", "window_seconds", got the string "strict"']);
  });
});
