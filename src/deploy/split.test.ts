import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { hashKey, parseSplit, pick, SPLIT_LIMITS, type Split } from './split.js';
import { parsedClean, problemsFrom, seededRandom, withinSigmas } from './fixtures.js';
import { ManifestProblems } from '../manifest/fields.js';

function split(...entries: Array<[string, number]>): Split {
  return entries.map(([version, weight]) => ({ version, weight }));
}

const problemsOf = (raw: unknown): string[] => problemsFrom(parseSplit, raw, 'split');

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

describe('parseSplit', () => {
  test('accepts an ordered list of versions with integer weights and freezes it', () => {
    const parsed = parsedClean(parseSplit, [{ version: 'stable1', weight: 95 }, { version: 'canary2', weight: 5 }], 'split');
    assert.deepEqual(parsed, split(['stable1', 95], ['canary2', 5]));
    assert.ok(Object.isFrozen(parsed) && Object.isFrozen(parsed![0]));
  });

  test('accepts a weight of 0: the version stays in the split and serves nothing', () => {
    assert.deepEqual(parsedClean(parseSplit, [{ version: 'a', weight: 100 }, { version: 'b', weight: 0 }], 'split'), split(['a', 100], ['b', 0]));
  });

  test('refuses anything but a non-empty array of at most the limit, saying what it got', () => {
    assert.deepEqual(problemsOf({ version: 'a', weight: 1 }), ['split: expected an array of 1 to 100 entries { "version": …, "weight": … }, got an object']);
    assert.match(problemsOf([])[0]!, /got 0 entries/);
    const tooMany = Array.from({ length: SPLIT_LIMITS.maxVersions + 1 }, (_, i) => ({ version: `v${i}`, weight: 1 }));
    assert.match(problemsOf(tooMany)[0]!, /1 to 100 entries .* got 101 entries/);
  });

  test('names the entry and the version in every problem with an entry, and reports them all', () => {
    assert.deepEqual(
      problemsOf([{ version: 'a', weight: -1 }, { version: 'b.c', weight: 1 }, { version: 'd', weight: 2.5 }, { version: 'e', weight: '5' }, 'f']),
      [
        'split[0].weight: version "a": expected an integer from 0 to 1000000 (a share of the total weight), got the number -1',
        'split[1].version: expected a version id (1 to 128 letters, digits, "-" or "_"), got the string "b.c"',
        'split[2].weight: version "d": expected an integer from 0 to 1000000 (a share of the total weight), got the number 2.5',
        'split[3].weight: version "e": expected an integer from 0 to 1000000 (a share of the total weight), got the string "5"',
        'split[4]: expected an object { "version": …, "weight": … }, got the string "f"',
      ],
    );
  });

  test('refuses an unknown key, a missing weight and a version listed twice', () => {
    assert.deepEqual(problemsOf([{ version: 'a', weight: 1, wieght: 2 }]), ['split[0].wieght: is not a known key (expected "version", "weight")']);
    assert.deepEqual(problemsOf([{ version: 'a' }]), ['split[0].weight: version "a": expected an integer from 0 to 1000000 (a share of the total weight), got nothing']);
    assert.deepEqual(problemsOf([{ version: 'a', weight: 1 }, { version: 'a', weight: 2 }]), ['split[1].version: version "a" is listed twice']);
  });

  test('refuses weights that add up to 0 (nothing would serve) or past the limit', () => {
    assert.deepEqual(problemsOf([{ version: 'a', weight: 0 }, { version: 'b', weight: 0 }]), ['split: expected weights adding up to 1 to 1000000, got 0 (no version would serve)']);
    assert.deepEqual(problemsOf([{ version: 'a', weight: 600_000 }, { version: 'b', weight: 600_000 }]), ['split: expected weights adding up to 1 to 1000000, got 1200000']);
  });
});

describe('pick', () => {
  test('sends the same key to the same version every time', () => {
    const s = split(['stable', 50], ['canary', 50]);
    for (const key of KEYS.slice(0, 200)) assert.equal(pick(s, key), pick(s, key));
  });

  test('never sends a request to a version of weight 0, with a key or without', () => {
    const s = split(['off1', 0], ['stable', 1], ['off2', 0]);
    const random = seededRandom(1);
    for (const key of KEYS.slice(0, 1000)) assert.equal(pick(s, key), 'stable');
    for (let i = 0; i < 1000; i++) assert.equal(pick(s, undefined, random), 'stable');
  });

  test('keeps every key that was on a canary listed last on it while the canary ramps 5 → 50 → 100', () => {
    const steps = [5, 50, 100].map((w) => split(['stable', 100 - w], ['canary', w]));
    for (const key of KEYS) {
      const [at5, at50, at100] = steps.map((s) => pick(s, key));
      if (at5 === 'canary') assert.equal(at50, 'canary', `${key} left the canary at 50 %`);
      if (at50 === 'canary') assert.equal(at100, 'canary', `${key} left the canary at 100 %`);
    }
  });

  test('keeps the ramp property for a canary listed first', () => {
    const at5 = split(['canary', 5], ['stable', 95]);
    const at50 = split(['canary', 50], ['stable', 50]);
    const moved = KEYS.filter((key) => pick(at5, key) === 'canary' && pick(at50, key) !== 'canary');
    assert.deepEqual(moved, []);
  });

  test('moves keys only towards the last entry when it ramps and the others keep their ratio', () => {
    const order = ['a', 'b', 'c'];
    const before = split(['a', 60], ['b', 30], ['c', 10]);
    const after = split(['a', 40], ['b', 20], ['c', 40]);
    let movedToC = 0;
    for (const key of KEYS) {
      const from = order.indexOf(pick(before, key));
      const to = order.indexOf(pick(after, key));
      assert.ok(to >= from, `${key} moved from ${order[from]} back to ${order[to]}`);
      if (from !== 2 && to === 2) movedToC++;
    }
    assert.ok(movedToC > 0, 'the ramp moved some keys');
  });

  test('depends on the shares, not on how the weights are scaled', () => {
    const percent = split(['stable', 95], ['canary', 5]);
    const twentieths = split(['stable', 19], ['canary', 1]);
    for (const key of KEYS) assert.equal(pick(percent, key), pick(twentieths, key));
  });

  test('gives keys each version in proportion to its weight, within 4 sigma over 10,000 keys', () => {
    for (const [canary, total] of [[5, 100], [50, 100], [1, 3], [999, 1000]] as const) {
      const s = split(['stable', total - canary], ['canary', canary]);
      const onCanary = KEYS.filter((key) => pick(s, key) === 'canary').length;
      assert.ok(withinSigmas(onCanary, KEYS.length, canary / total, 4), `${onCanary} of ${KEYS.length} keys for a ${canary}/${total} share`);
    }
  });

  test('gives requests without a key each version in proportion to its weight, within 4 sigma over 10,000 picks', () => {
    const s = split(['a', 70], ['b', 25], ['c', 5]);
    const random = seededRandom(42);
    const counts = new Map<string, number>();
    for (let i = 0; i < 10_000; i++) {
      const v = pick(s, undefined, random);
      counts.set(v, (counts.get(v) ?? 0) + 1);
    }
    for (const [version, share] of [['a', 0.7], ['b', 0.25], ['c', 0.05]] as const) {
      assert.ok(withinSigmas(counts.get(version) ?? 0, 10_000, share, 4), `${version}: ${counts.get(version)} of 10,000 for ${share}`);
    }
  });

  test('sends a random value outside [0, 1) to the last version with weight rather than failing', () => {
    assert.equal(pick(split(['a', 1], ['b', 1], ['c', 0]), undefined, () => 1), 'b');
  });
});

describe('hashKey', () => {
  test('is pinned: changing it would move every sticky user to another version on upgrade', () => {
    assert.deepEqual(['', 'user-1', '203.0.113.7'].map(hashKey), PINNED);
  });

  test('spreads keys that differ in one character over the whole range', () => {
    const points = KEYS.slice(0, 1000).map((k) => hashKey(k) / 2 ** 32);
    for (const quarter of [0, 0.25, 0.5, 0.75]) {
      const inside = points.filter((p) => p >= quarter && p < quarter + 0.25).length;
      assert.ok(withinSigmas(inside, 1000, 0.25, 4), `${inside} of 1000 in [${quarter}, ${quarter + 0.25})`);
    }
  });
});

const PINNED = [2872998923, 2005895916, 339622278];

test('parseSplit reports through ManifestProblems too, so a deploy request answers with the problem list verge check gives', () => {
  const problems = new ManifestProblems('deploy request');
  assert.equal(parseSplit([{ version: 'a', weight: -1 }], 'split', problems), undefined);
  assert.deepEqual(problems.items, [
    { file: 'deploy request', path: 'split[0].weight', message: 'version "a": expected an integer from 0 to 1000000 (a share of the total weight), got the number -1' },
  ]);
});
