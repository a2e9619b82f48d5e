import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCounter } from '../store.js';
import { formatStamp } from './hlc.js';
import { addToEntry, mergeEntry, registerWins, valueOf, type Change, type CounterEntry } from './merge.js';
import { openReplica, type Replica } from './replica.js';
import { decodeChange, encodeChange } from './wire.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-merge-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString());
const bytes = (s: string) => new TextEncoder().encode(s);
const stamp = (wallMs: number, replica: string, logical = 0) => formatStamp({ wallMs, logical, replica });

function replicaAt(now: () => number = Date.now): Replica {
  return openReplica(path.join(dir, `r${++files}.sqlite`), 'verge.repl.t', now);
}

/** The changes a replica queued, as another replica would read them from the stream. */
function drain(r: Replica): Change[] {
  const out: Change[] = [];
  for (const q of r.queued(10_000)) {
    out.push(decodeChange(q.body)!);
    r.sent(q.seq);
  }
  return out;
}

function snapshot(r: Replica): Record<string, string | undefined> {
  const keys = r.listKeys('', undefined, 10_000);
  return Object.fromEntries(keys.map((k) => [k, text(r.get(k))]));
}

/** A deterministic shuffle (xorshift), so a failure is reproducible. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let s = seed || 1;
  for (let i = out.length - 1; i > 0; i--) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const j = Math.abs(s) % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('merge rules', () => {
  test('the register with the later stamp wins, and the same write again changes nothing', () => {
    const older = { value: bytes('a'), stamp: stamp(1, 'x') };
    const newer = { value: bytes('b'), stamp: stamp(2, 'x') };
    assert.equal(registerWins(newer, older), true);
    assert.equal(registerWins(older, newer), false);
    assert.equal(registerWins(newer, newer), false);
    assert.equal(registerWins(older, undefined), true);
  });

  test('counter entries merge by the larger sums in one epoch, and a later epoch replaces an earlier one', () => {
    const e1: CounterEntry = { replica: 'a', epoch: stamp(1, 'x'), p: 5n, n: 1n };
    assert.deepEqual(mergeEntry({ ...e1, p: 7n }, e1), { ...e1, p: 7n });
    assert.equal(mergeEntry(e1, { ...e1, p: 7n }), undefined, 'an older state of the entry changes nothing');
    assert.equal(mergeEntry(e1, e1), undefined, 'a re-delivered entry changes nothing');
    const e2 = { ...e1, epoch: stamp(2, 'x'), p: 1n, n: 0n };
    assert.deepEqual(mergeEntry(e2, e1), e2);
    assert.equal(mergeEntry(e1, e2), undefined);
  });

  test('the value is the register plus the entries of its epoch; older epochs do not count', () => {
    const register = { value: bytes('40'), stamp: stamp(2, 'x') };
    const entries: CounterEntry[] = [
      { replica: 'a', epoch: stamp(2, 'x'), p: 3n, n: 1n },
      { replica: 'b', epoch: stamp(1, 'x'), p: 100n, n: 0n },
    ];
    assert.equal(text(valueOf(register, entries, parseCounter)), '42');
    assert.equal(text(valueOf(undefined, [{ replica: 'a', epoch: '', p: 2n, n: 5n }], parseCounter)), '-3');
    assert.equal(text(valueOf({ value: null, stamp: stamp(3, 'x') }, entries, parseCounter)), undefined);
    assert.equal(text(valueOf({ value: bytes('not a number'), stamp: stamp(3, 'x') }, [], parseCounter)), 'not a number');
  });

  test('adding a negative delta grows the entry\'s negative sum', () => {
    const e = addToEntry(undefined, 'a', '', -4n);
    assert.deepEqual(e, { replica: 'a', epoch: '', p: 0n, n: 4n });
    assert.deepEqual(addToEntry(e, 'a', '', 6n), { replica: 'a', epoch: '', p: 6n, n: 4n });
  });

  test('a change survives the trip through a message unchanged, and a foreign message is refused', () => {
    const changes: Change[] = [
      { kind: 'register', key: 'k\u0000é', origin: 'ra', register: { value: Uint8Array.of(0, 255, 7), stamp: stamp(9, 'ra') } },
      { kind: 'register', key: '', origin: 'ra', register: { value: null, stamp: stamp(9, 'ra', 3) } },
      { kind: 'counter', key: 'n', entry: { replica: 'rb', epoch: '', p: 2n ** 70n, n: 3n } },
    ];
    for (const c of changes) assert.deepEqual(decodeChange(encodeChange(c)), c);
    for (const junk of ['{', '{"k":1}', '{"k":"a","o":"ra","s":"bad","v":null}', '{"k":"a","r":"ra","e":"","p":"-1","n":"0"}']) assert.equal(decodeChange(bytes(junk)), undefined, junk);
  });
});

describe('replicas converge', () => {
  test('concurrent increments on partitioned replicas sum exactly once merged', () => {
    const [a, b, c] = [replicaAt(), replicaAt(), replicaAt()];
    for (let i = 0; i < 50; i++) a.increment('count', 1n);
    for (let i = 0; i < 30; i++) b.increment('count', 1n);
    for (let i = 0; i < 20; i++) c.increment('sum', -7n);
    c.increment('count', 5n);
    const all = [...drain(a), ...drain(b), ...drain(c)];
    for (const r of [a, b, c]) r.applyRemote(all.map((change, i) => ({ change, seq: i + 1 })), all.length);
    for (const r of [a, b, c]) assert.deepEqual(snapshot(r), { count: '85', sum: '-140' });
  });

  test('any order of delivery, with re-deliveries, ends in the same state on every replica', () => {
    let wall = 1000;
    const clock = () => wall;
    const writers = [replicaAt(clock), replicaAt(clock), replicaAt(clock)];
    const changes: Change[] = [];
    // Rounds of concurrent writes: each replica sees the others' changes only between rounds.
    for (let round = 0; round < 6; round++) {
      writers.forEach((w, i) => {
        w.increment('hits', BigInt(i + 1));
        w.increment(`own/${i}`, -1n);
        if ((round + i) % 3 === 0) w.set('name', bytes(`w${i} r${round}`));
        if (round === 2 && i === 1) w.delete('name');
        if (round === 3 && i === 0) w.set('hits', bytes('1000'));
        if (round === 4) w.compareAndSwap('flag', null, bytes(`from ${i}`));
      });
      const round_ = writers.flatMap(drain);
      changes.push(...round_);
      for (const w of writers) w.applyRemote(round_.map((change, j) => ({ change, seq: j })), 0);
      wall += round % 2; // two rounds in the same millisecond: ties broken by counter and replica
    }
    const expected = snapshot(writers[0]!);
    for (const w of writers) assert.deepEqual(snapshot(w), expected);
    for (let seed = 1; seed <= 8; seed++) {
      const r = replicaAt(clock);
      const delivered = shuffled([...changes, ...changes.slice(0, changes.length / 2)], seed);
      for (const change of delivered) r.applyRemote([{ change, seq: 1 }], 1);
      assert.deepEqual(snapshot(r), expected, `delivery order ${seed}`);
    }
    assert.equal(expected.flag?.startsWith('from '), true);
    assert.equal(expected['own/0'], '-6');
  });

  test('the later write wins whichever replica receives them, and equal times fall to the higher replica id', () => {
    let wall = 5000;
    const a = replicaAt(() => wall);
    const b = replicaAt(() => wall);
    a.set('k', bytes('from a'));
    b.set('k', bytes('from b'));
    const changes = [...drain(a), ...drain(b)];
    a.applyRemote(changes.map((change) => ({ change, seq: 1 })), 1);
    b.applyRemote([...changes].reverse().map((change) => ({ change, seq: 1 })), 1);
    const winner = a.id > b.id ? 'from a' : 'from b';
    assert.equal(text(a.get('k')), winner);
    assert.equal(text(b.get('k')), winner);
    wall += 10;
    const loser = a.id > b.id ? b : a;
    loser.set('k', bytes('later'));
    const later = drain(loser);
    for (const r of [a, b]) r.applyRemote(later.map((change) => ({ change, seq: 2 })), 2);
    assert.equal(text(a.get('k')), 'later');
    assert.equal(text(b.get('k')), 'later');
  });

  test('a set replaces the counter; increments made before it on another replica no longer count', () => {
    let wall = 1;
    const a = replicaAt(() => wall);
    const b = replicaAt(() => wall);
    b.increment('n', 10n);
    wall = 2;
    a.set('n', bytes('100'));
    a.increment('n', 1n);
    const changes = [...drain(b), ...drain(a)];
    for (const r of [a, b]) r.applyRemote(changes.map((change) => ({ change, seq: 1 })), 1);
    assert.equal(text(a.get('n')), '101');
    assert.equal(text(b.get('n')), '101');
  });

  test('a delete leaves a tombstone that beats an older write arriving late, and is expired after the retention', () => {
    let wall = 1_000;
    const a = replicaAt(() => wall);
    const b = replicaAt(() => wall);
    a.set('k', bytes('old'));
    const old = drain(a);
    wall = 2_000;
    b.applyRemote(old.map((change) => ({ change, seq: 1 })), 1);
    assert.equal(b.delete('k'), true);
    b.applyRemote(old.map((change) => ({ change, seq: 1 })), 1);
    assert.equal(b.get('k'), undefined, 'the older write re-delivered does not bring the key back');
    assert.deepEqual(b.expireTombstones(2_500, 10_000), [], 'kept within the retention');
    assert.deepEqual(b.expireTombstones(20_000, 10_000), ['k']);
    assert.deepEqual(b.listKeys('', undefined, 10), []);
  });

  test('queued changes survive closing the replica, and a change queued again replaces the unsent one', () => {
    const file = path.join(dir, 'outbox.sqlite');
    const r = openReplica(file, 'verge.repl.t');
    for (let i = 0; i < 100; i++) r.increment('n', 1n);
    r.set('k', bytes('v'));
    const id = r.id;
    r.close();
    const again = openReplica(file, 'verge.repl.t');
    try {
      assert.equal(again.id, id, 'the replica keeps its id across restarts');
      const queued = again.queued(100);
      assert.equal(queued.length, 2, 'one change per key, not per write');
      assert.deepEqual(queued.map((q) => decodeChange(q.body)!.kind), ['counter', 'register']);
      assert.equal((decodeChange(queued[0]!.body) as { entry: CounterEntry }).entry.p, 100n);
      assert.equal(again.stats().queued, 2);
    } finally {
      again.close();
    }
  });
});
