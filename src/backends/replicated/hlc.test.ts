import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareStamps, createHybridClock, formatStamp, NO_STAMP, parseStamp } from './hlc.js';

test('stamps of one clock strictly increase, even within one millisecond and when the wall clock goes back', () => {
  let wall = 1000;
  const clock = createHybridClock('a', () => wall);
  const stamps = [clock.now(), clock.now()];
  wall = 900; // NTP stepped the clock back
  stamps.push(clock.now(), clock.now());
  wall = 2000;
  stamps.push(clock.now());
  for (let i = 1; i < stamps.length; i++) assert.ok(compareStamps(stamps[i - 1]!, stamps[i]!) < 0, `${stamps[i - 1]} < ${stamps[i]}`);
  assert.equal(parseStamp(stamps.at(-1)!)!.wallMs, 2000);
  assert.equal(parseStamp(stamps.at(-1)!)!.logical, 0);
});

test('a clock that saw a stamp from a clock running ahead stamps its next write above it', () => {
  const ahead = createHybridClock('b', () => 50_000);
  const behind = createHybridClock('a', () => 1_000);
  const remote = ahead.now();
  behind.observe(remote);
  const next = behind.now();
  assert.ok(compareStamps(next, remote) > 0);
  assert.equal(parseStamp(next)!.wallMs, 50_000);
});

test('equal wall time and counter are ordered by replica id, so every replica picks the same winner', () => {
  const a = formatStamp({ wallMs: 5, logical: 0, replica: 'ra' });
  const b = formatStamp({ wallMs: 5, logical: 0, replica: 'rb' });
  assert.ok(compareStamps(a, b) < 0);
  assert.ok(compareStamps(b, a) > 0);
  assert.equal(compareStamps(a, a), 0);
});

test('the empty stamp sorts below every stamp', () => {
  assert.ok(compareStamps(NO_STAMP, formatStamp({ wallMs: 0, logical: 0, replica: 'a' })) < 0);
});

test('a clock restored from its last persisted stamp resumes above it though the wall clock is behind', () => {
  const first = createHybridClock('a', () => 10_000);
  first.now();
  const saved = first.last();
  const restarted = createHybridClock('a', () => 5_000, saved);
  assert.ok(compareStamps(restarted.now(), saved) > 0);
});

test('stamps sort numerically: wall times of different digit counts and counters past 9', () => {
  const small = formatStamp({ wallMs: 0x9, logical: 0xf, replica: 'z' });
  const big = formatStamp({ wallMs: 0x10, logical: 0, replica: 'a' });
  assert.ok(compareStamps(small, big) < 0);
  assert.deepEqual(parseStamp(small), { wallMs: 9, logical: 15, replica: 'z' });
  assert.equal(parseStamp('not a stamp'), undefined);
});
