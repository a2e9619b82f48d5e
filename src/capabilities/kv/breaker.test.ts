import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError, type StoreErrorReason } from '../../backends/store.js';
import { BREAKER_DEFAULTS, createBreaker, type BreakerOptions, type BreakerState } from './breaker.js';

/** A breaker on a hand-driven clock, recording its transitions. */
function harness(options: BreakerOptions = {}) {
  let time = 1_000_000;
  const changes: Array<[BreakerState, string | undefined]> = [];
  const breaker = createBreaker({
    name: 'default',
    failureThreshold: 3,
    cooldownMs: 1000,
    now: () => time,
    onStateChange: (state, reason) => changes.push([state, reason]),
    ...options,
  });
  let calls = 0;
  const fail = (reason: StoreErrorReason = 'UNAVAILABLE') => () => {
    calls += 1;
    throw new StoreError(reason, `backend says ${reason}`);
  };
  const ok = <T>(value: T) => () => {
    calls += 1;
    return value;
  };
  return {
    breaker,
    changes,
    fail,
    ok,
    get calls() {
      return calls;
    },
    advance(ms: number) {
      time += ms;
    },
    /** Runs fn through the breaker and returns the StoreError it threw. */
    rejected(fn: () => unknown): StoreError {
      try {
        breaker.call(fn);
      } catch (err) {
        assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
        return err;
      }
      assert.fail('expected the call to throw');
    },
  };
}

describe('circuit breaker', () => {
  test('a closed breaker passes results and errors through untouched', () => {
    const h = harness();
    assert.equal(h.breaker.state, 'closed');
    assert.equal(h.breaker.call(h.ok(42)), 42);
    const err = h.rejected(h.fail('TIMEOUT'));
    assert.equal(err.reason, 'TIMEOUT');
    assert.equal(err.message, 'backend says TIMEOUT');
    assert.equal(h.breaker.state, 'closed');
  });

  test('opens after failureThreshold consecutive UNAVAILABLE or TIMEOUT failures', () => {
    const h = harness();
    h.rejected(h.fail('UNAVAILABLE'));
    h.rejected(h.fail('TIMEOUT'));
    assert.equal(h.breaker.state, 'closed');
    h.rejected(h.fail('UNAVAILABLE'));
    assert.equal(h.breaker.state, 'open');
    assert.deepEqual(h.changes.map(([state]) => state), ['open']);
    assert.match(h.changes[0]![1]!, /3 consecutive failures, the last: backend says UNAVAILABLE/);
  });

  test('an open circuit fails fast with UNAVAILABLE without calling the store, naming the store and when it retries', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.rejected(h.fail());
    const before = h.calls;
    h.advance(400);
    const err = h.rejected(h.ok('never'));
    assert.equal(h.calls, before);
    assert.equal(err.reason, 'UNAVAILABLE');
    assert.match(err.message, /^circuit open for store default after 3 consecutive failures, retrying after 600 ms/);
    assert.ok(err.cause instanceof StoreError, 'the last backend failure is the cause');
  });

  test('a success resets the count of consecutive failures', () => {
    const h = harness();
    h.rejected(h.fail());
    h.rejected(h.fail());
    h.breaker.call(h.ok(1));
    h.rejected(h.fail());
    h.rejected(h.fail());
    assert.equal(h.breaker.state, 'closed');
    h.rejected(h.fail());
    assert.equal(h.breaker.state, 'open');
  });

  test('NOT_A_NUMBER neither counts as a failure nor resets the count', () => {
    const h = harness();
    for (let i = 0; i < 10; i++) assert.equal(h.rejected(h.fail('NOT_A_NUMBER')).reason, 'NOT_A_NUMBER');
    assert.equal(h.breaker.state, 'closed');
    h.rejected(h.fail());
    h.rejected(h.fail());
    h.rejected(h.fail('NOT_A_NUMBER'));
    h.rejected(h.fail());
    assert.equal(h.breaker.state, 'open');
  });

  test('errors that are not StoreErrors pass through and do not count', () => {
    const h = harness();
    for (let i = 0; i < 5; i++) {
      assert.throws(
        () =>
          h.breaker.call(() => {
            throw new TypeError('a bug');
          }),
        TypeError,
      );
    }
    assert.equal(h.breaker.state, 'closed');
  });

  test('after the cooldown one trial call goes through, and its success closes the circuit', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.rejected(h.fail());
    h.advance(999);
    h.rejected(h.ok('too early'));
    assert.equal(h.breaker.state, 'open');
    h.advance(1);
    assert.equal(h.breaker.call(h.ok('trial')), 'trial');
    assert.equal(h.breaker.state, 'closed');
    assert.deepEqual(h.changes.map(([state]) => state), ['open', 'half-open', 'closed']);
    // Closed again with a clean count: it takes a full threshold of failures to reopen.
    h.rejected(h.fail());
    h.rejected(h.fail());
    assert.equal(h.breaker.state, 'closed');
  });

  test('a failed trial reopens the circuit for a full cooldown from the failure', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.rejected(h.fail());
    h.advance(5000);
    assert.equal(h.rejected(h.fail('TIMEOUT')).reason, 'TIMEOUT');
    assert.equal(h.breaker.state, 'open');
    assert.deepEqual(h.changes.map(([state]) => state), ['open', 'half-open', 'open']);
    assert.match(h.changes[2]![1]!, /trial call failed: backend says TIMEOUT/);
    h.advance(999);
    const before = h.calls;
    assert.match(h.rejected(h.ok('no')).message, /retrying after 1 ms/);
    assert.equal(h.calls, before);
    h.advance(1);
    assert.equal(h.breaker.call(h.ok('yes')), 'yes');
    assert.equal(h.breaker.state, 'closed');
  });

  test('a trial that fails with NOT_A_NUMBER leaves the circuit half-open and the next call is the trial', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.rejected(h.fail());
    h.advance(1000);
    assert.equal(h.rejected(h.fail('NOT_A_NUMBER')).reason, 'NOT_A_NUMBER');
    assert.equal(h.breaker.state, 'half-open');
    assert.equal(h.breaker.call(h.ok('next trial')), 'next trial');
    assert.equal(h.breaker.state, 'closed');
  });

  test('while an async trial is in flight, other calls fail fast without reaching the store', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.rejected(h.fail());
    h.advance(1000);
    let finishTrial!: (value: string) => void;
    const trial = h.breaker.callAsync(() => new Promise<string>((resolve) => (finishTrial = resolve)));
    assert.equal(h.breaker.state, 'half-open');
    const before = h.calls;
    assert.match(h.rejected(h.ok('sync')).message, /^circuit half-open for store default: a trial call is in flight/);
    await assert.rejects(h.breaker.callAsync(async () => h.ok('async')()), (err: unknown) => err instanceof StoreError && err.reason === 'UNAVAILABLE');
    assert.equal(h.calls, before);
    finishTrial('done');
    assert.equal(await trial, 'done');
    assert.equal(h.breaker.state, 'closed');
  });

  test('callAsync counts rejections and synchronous throws alike, and fails fast once open', async () => {
    const h = harness();
    await assert.rejects(h.breaker.callAsync(async () => h.fail()()));
    await assert.rejects(
      h.breaker.callAsync(() => {
        throw new StoreError('TIMEOUT', 'thrown before any promise');
      }),
    );
    await assert.rejects(h.breaker.callAsync(() => Promise.reject(new StoreError('UNAVAILABLE', 'rejected'))));
    assert.equal(h.breaker.state, 'open');
    let called = false;
    await assert.rejects(
      h.breaker.callAsync(async () => {
        called = true;
      }),
      /circuit open for store default/,
    );
    assert.equal(called, false);
  });

  test('late results of calls admitted before the circuit opened do not change it', async () => {
    const h = harness();
    const slow = Array.from({ length: 4 }, () => {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const promise = h.breaker.callAsync(() => new Promise<void>((res, rej) => ((resolve = res), (reject = rej))));
      return { promise, resolve, reject };
    });
    for (const call of slow.slice(0, 3)) {
      call.reject(new StoreError('UNAVAILABLE', 'down'));
      await assert.rejects(call.promise);
    }
    assert.equal(h.breaker.state, 'open');
    // The fourth was admitted while closed and succeeds only now: the circuit stays open.
    slow[3]!.resolve();
    await slow[3]!.promise;
    assert.equal(h.breaker.state, 'open');
    assert.deepEqual(h.changes.map(([state]) => state), ['open']);
  });

  test('the defaults open after 5 failures and retry after 5000 ms', () => {
    let time = 0;
    const breaker = createBreaker({ now: () => time });
    assert.deepEqual({ ...BREAKER_DEFAULTS }, { name: 'unnamed', failureThreshold: 5, cooldownMs: 5000 });
    const down = () => {
      throw new StoreError('UNAVAILABLE', 'down');
    };
    for (let i = 0; i < 4; i++) assert.throws(() => breaker.call(down), /down/);
    assert.equal(breaker.state, 'closed');
    assert.throws(() => breaker.call(down), /down/);
    assert.equal(breaker.state, 'open');
    time += 4999;
    assert.throws(() => breaker.call(() => 1), /circuit open for store unnamed after 5 consecutive failures, retrying after 1 ms \(cooldown 5000 ms\)/);
    time += 1;
    assert.equal(breaker.call(() => 1), 1);
  });

  test('a threshold below 1 or a negative cooldown is refused when the breaker is created', () => {
    assert.throws(() => createBreaker({ failureThreshold: 0 }), RangeError);
    assert.throws(() => createBreaker({ failureThreshold: 1.5 }), RangeError);
    assert.throws(() => createBreaker({ cooldownMs: -1 }), RangeError);
    assert.throws(() => createBreaker({ cooldownMs: Number.POSITIVE_INFINITY }), RangeError);
  });
});
