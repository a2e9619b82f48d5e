import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { AnsweredRequest } from '../ingress/server.js';
import { RECENT_REQUESTS_DEFAULTS, RecentRequests } from './recent-requests.js';

function answered(n: number, over: Partial<AnsweredRequest> = {}): AnsweredRequest {
  return { id: `r${n}`, at: 1_700_000_000_000 + n, method: 'GET', path: `/p/${n}`, route: '/p/...', app: 'shop', component: 'web', version: 'abcdef012345', status: 200, durationMs: 1.5, error: undefined, ...over };
}

describe('recent requests', () => {
  test('lists the newest first, at most the limit asked for', () => {
    const recent = new RecentRequests(10);
    for (let i = 1; i <= 4; i++) recent.add(answered(i));
    assert.deepEqual(recent.list(10).map((r) => r.id), ['r4', 'r3', 'r2', 'r1']);
    assert.deepEqual(recent.list(2).map((r) => r.id), ['r4', 'r3']);
  });

  test('keeps only the last `capacity` requests once the ring wraps, and finds a request by id only while it is kept', () => {
    const recent = new RecentRequests(3);
    for (let i = 1; i <= 7; i++) recent.add(answered(i));
    assert.deepEqual(recent.list(100).map((r) => r.id), ['r7', 'r6', 'r5']);
    assert.equal(recent.find('r5')?.path, '/p/5');
    assert.equal(recent.find('r4'), undefined);
  });

  test('filters by app and by whether the answer was a 5xx', () => {
    const recent = new RecentRequests(10);
    recent.add(answered(1, { status: 503 }));
    recent.add(answered(2, { app: 'blog' }));
    recent.add(answered(3, { app: undefined, component: undefined, route: '-', status: 404 }));
    recent.add(answered(4, { status: 500 }));
    assert.deepEqual(recent.list(10, { failed: true }).map((r) => r.id), ['r4', 'r1']);
    assert.deepEqual(recent.list(10, { failed: false }).map((r) => r.id), ['r3', 'r2']);
    assert.deepEqual(recent.list(10, { app: 'shop' }).map((r) => r.id), ['r4', 'r1']);
    assert.deepEqual(recent.list(1, { app: 'shop', failed: true }).map((r) => r.id), ['r4']);
  });

  test('cuts a very long path, so one huge URL cannot take the memory of many requests', () => {
    const recent = new RecentRequests(2);
    recent.add(answered(1, { path: '/' + 'a'.repeat(10_000) }));
    const kept = recent.find('r1')!;
    assert.equal(kept.path.length, RECENT_REQUESTS_DEFAULTS.maxPathChars + 1);
    assert.ok(kept.path.endsWith('…'));
  });

  test('refuses a capacity below 1', () => {
    assert.throws(() => new RecentRequests(0), RangeError);
    assert.throws(() => new RecentRequests(1.5), RangeError);
  });
});
