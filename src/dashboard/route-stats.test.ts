import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { AnsweredRequest } from '../ingress/server.js';
import { RouteStats } from './route-stats.js';

function answered(over: Partial<AnsweredRequest> = {}): AnsweredRequest {
  return { id: 'r', at: 0, method: 'GET', path: '/a', route: '/a', app: 'shop', component: 'web', version: 'v1', status: 200, durationMs: 10, error: undefined, ...over };
}

function statsAt(): { stats: RouteStats; clock: { now: number } } {
  const clock = { now: 0 };
  return { stats: new RouteStats({ windowMs: 10_000, buckets: 10, now: () => clock.now }), clock };
}

describe('route stats', () => {
  test('keeps one window per app, route, component and version, with its rate, 5xx rate and quantiles', () => {
    const { stats } = statsAt();
    for (let i = 0; i < 19; i++) stats.record(answered({ durationMs: 10 }));
    stats.record(answered({ status: 502, durationMs: 1000 }));
    stats.record(answered({ version: 'v2' }));
    stats.record(answered({ route: '/b', path: '/b' }));
    const rows = stats.routes();
    assert.deepEqual(rows.map((r) => `${r.route} ${r.version} ${r.stats.requests}`), ['/a v1 20', '/a v2 1', '/b v1 1']);
    const a = rows[0]!.stats;
    assert.equal(a.errors5xx, 1);
    assert.equal(a.errorRate, 0.05);
    assert.equal(a.ratePerSecond, 2);
    assert.ok(Math.abs(a.p50Ms! - 10) / 10 < 0.05, String(a.p50Ms));
    assert.ok(Math.abs(a.p99Ms! - 1000) / 1000 < 0.05, String(a.p99Ms));
  });

  test('counts requests no route matched in the totals only', () => {
    const { stats } = statsAt();
    stats.record(answered());
    stats.record(answered({ app: undefined, component: undefined, version: undefined, route: '-', status: 404 }));
    assert.equal(stats.totals().requests, 2);
    assert.deepEqual(stats.routes().map((r) => r.route), ['/a']);
  });

  test('a route whose requests all left the window is dropped, and comes back with the next request', () => {
    const { stats, clock } = statsAt();
    stats.record(answered({ version: 'old' }));
    clock.now = 5_000;
    stats.record(answered({ version: 'new' }));
    clock.now = 10_500;
    assert.deepEqual(stats.routes().map((r) => r.version), ['new']);
    clock.now = 30_000;
    assert.deepEqual(stats.routes(), []);
    assert.equal(stats.totals().requests, 0);
    stats.record(answered({ version: 'old' }));
    assert.deepEqual(stats.routes().map((r) => r.version), ['old']);
  });
});
