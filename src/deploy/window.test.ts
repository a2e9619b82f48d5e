import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { LATENCY_HISTOGRAM, SlidingWindow, binOf, binValue } from './window.js';
import { seededRandom } from './fixtures.js';

function windowAt(start = 0, opts: { windowMs?: number; buckets?: number } = {}): { window: SlidingWindow; clock: { now: number } } {
  const clock = { now: start };
  return { window: new SlidingWindow({ ...opts, now: () => clock.now }), clock };
}

/** The exact sample quantile the window estimates: the sample of rank ⌈q·n⌉. */
function exactQuantile(samples: number[], q: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(1, Math.ceil(q * sorted.length)) - 1]!;
}

/** Log-normal latencies around `medianMs`: heavy-tailed like real ones. */
function logNormal(random: () => number, medianMs: number, sigma: number): () => number {
  return () => {
    const u = 1 - random();
    const v = random();
    return medianMs * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
  };
}

const relativeError = (estimate: number, exact: number) => Math.abs(estimate - exact) / exact;

describe('SlidingWindow', () => {
  test('reports no requests, a 0 error rate and no quantiles before any request', () => {
    assert.deepEqual(windowAt().window.snapshot(), { requests: 0, errors5xx: 0, errorRate: 0, p50Ms: null, p99Ms: null });
  });

  test('counts every request and, as errors, only statuses from 500 to 599', () => {
    const { window } = windowAt();
    for (const status of [200, 404, 499, 500, 503, 599, 600]) window.record(status, 10);
    const s = window.snapshot();
    assert.equal(s.requests, 7);
    assert.equal(s.errors5xx, 3);
    assert.equal(s.errorRate, 3 / 7);
  });

  test('reports p50 and p99 within 5 % of the exact sample quantiles of heavy-tailed latencies', () => {
    const random = seededRandom(7);
    for (const [median, sigma] of [[0.2, 0.5], [12, 1], [800, 2]] as const) {
      const { window } = windowAt();
      const latency = logNormal(random, median, sigma);
      const samples = Array.from({ length: 5000 }, latency);
      for (const ms of samples) window.record(200, ms);
      const s = window.snapshot();
      assert.ok(relativeError(s.p50Ms!, exactQuantile(samples, 0.5)) < 0.05, `p50 ${s.p50Ms} against ${exactQuantile(samples, 0.5)}`);
      assert.ok(relativeError(s.p99Ms!, exactQuantile(samples, 0.99)) < 0.05, `p99 ${s.p99Ms} against ${exactQuantile(samples, 0.99)}`);
    }
  });

  test('takes the p99 of 100 requests from the slowest but one, as the rank ⌈0.99 n⌉ says', () => {
    const { window } = windowAt();
    for (let i = 1; i <= 100; i++) window.record(200, i === 100 ? 5000 : i === 99 ? 400 : 10);
    assert.ok(relativeError(window.snapshot().p99Ms!, 400) < 0.05);
  });

  test('forgets a request once the window has slid past it, and not a bucket before', () => {
    const { window, clock } = windowAt(1_000_000);
    window.record(500, 10);
    clock.now += 59_999;
    assert.equal(window.snapshot().requests, 1, 'still in the window 59.999 s later');
    clock.now += 1;
    assert.deepEqual(window.snapshot(), { requests: 0, errors5xx: 0, errorRate: 0, p50Ms: null, p99Ms: null });
  });

  test('holds the last 60 one-second buckets under steady traffic', () => {
    const { window, clock } = windowAt();
    for (let second = 0; second < 180; second++) {
      clock.now = second * 1000 + 500;
      for (let i = 0; i < 10; i++) window.record(second % 2 === 0 ? 200 : 502, second);
      if (second >= 59) assert.equal(window.snapshot().requests, 600, `at second ${second}`);
    }
    const s = window.snapshot();
    assert.equal(s.errors5xx, 300);
    assert.ok(relativeError(s.p50Ms!, 149) < 0.05, `p50 ${s.p50Ms}: the window holds seconds 120 to 179`);
  });

  test('starts empty again after an idle hour and counts afresh', () => {
    const { window, clock } = windowAt();
    for (let i = 0; i < 50; i++) window.record(500, 1000);
    clock.now += 3_600_000;
    window.record(200, 2);
    const s = window.snapshot();
    assert.equal(s.requests, 1);
    assert.equal(s.errors5xx, 0);
    assert.ok(relativeError(s.p99Ms!, 2) < 0.05, `p99 ${s.p99Ms}: the slow requests are forgotten`);
  });

  test('matches a model that keeps every sample, over random traffic with gaps', () => {
    const random = seededRandom(99);
    const { window, clock } = windowAt(0, { windowMs: 10_000, buckets: 10 });
    const kept: Array<{ bucket: number; status: number; ms: number }> = [];
    for (let step = 0; step < 3000; step++) {
      clock.now += random() < 0.02 ? random() * 15_000 : random() * 50;
      const status = random() < 0.1 ? 500 : 200;
      const ms = random() * 300;
      window.record(status, ms);
      kept.push({ bucket: Math.floor(clock.now / 1000), status, ms });
      if (step % 50 !== 0) continue;
      const live = kept.filter((r) => r.bucket > Math.floor(clock.now / 1000) - 10);
      const s = window.snapshot();
      assert.equal(s.requests, live.length, `requests at step ${step}`);
      assert.equal(s.errors5xx, live.filter((r) => r.status >= 500).length, `errors at step ${step}`);
      assert.equal(s.p99Ms, binValue(binOf(exactQuantile(live.map((r) => r.ms), 0.99))), `p99 at step ${step}`);
    }
  });

  test('counts a request into the current bucket when an injected clock steps back', () => {
    const { window, clock } = windowAt(10_000);
    window.record(200, 1);
    clock.now -= 5000;
    window.record(200, 1);
    clock.now = 10_000 + 59_999;
    assert.equal(window.snapshot().requests, 2);
  });

  test('refuses a bucket count or window length it cannot slide', () => {
    assert.throws(() => new SlidingWindow({ buckets: 0 }), /expected 1 to 3600 buckets, got 0/);
    assert.throws(() => new SlidingWindow({ buckets: 2.5 }), RangeError);
    assert.throws(() => new SlidingWindow({ windowMs: 10, buckets: 60 }), /at least 1 ms per bucket, got 10 ms for 60 buckets/);
  });
});

describe('the latency histogram', () => {
  test('reports every latency from 0.01 ms to 10 min within 5 %', () => {
    for (let ms = LATENCY_HISTOGRAM.minMs; ms < LATENCY_HISTOGRAM.maxMs; ms *= 1.013) {
      assert.ok(relativeError(binValue(binOf(ms)), ms) < 0.0489, `${ms} ms reads ${binValue(binOf(ms))}`);
    }
  });

  test('reads latencies below its range as 0.01 ms and above it as 10 min, bad ones as the lowest', () => {
    assert.equal(binValue(binOf(0.001)), 0.01);
    assert.equal(binValue(binOf(3_600_000)), 600_000);
    assert.equal(binValue(binOf(Infinity)), 600_000);
    assert.equal(binValue(binOf(-3)), 0.01);
    assert.equal(binValue(binOf(NaN)), 0.01);
  });
});
