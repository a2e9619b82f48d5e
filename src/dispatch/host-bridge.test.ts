import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { HostCall, HostReply } from './protocol.js';
import { DEADLINE_BACKSTOP_MS, WORKER_WAIT_GRACE_MS, callBound, createBridgeEnds, serveHostCalls, withinBound } from './host-bridge.js';
import type { BridgeFixtureData, BridgeFixtureResult } from './host-bridge.fixture.js';

/** A worker making `calls` over a bridge whose main side is `handle`; resolves with what each call returned. */
async function run(calls: BridgeFixtureData['calls'], handle: (call: HostCall) => Promise<HostReply>): Promise<BridgeFixtureResult[]> {
  const ends = createBridgeEnds();
  serveHostCalls(ends, handle);
  const data: BridgeFixtureData = { port: ends.workerPort, signal: ends.signal, calls };
  const worker = new Worker(new URL('./host-bridge.fixture.js', import.meta.url), { workerData: data, transferList: [ends.workerPort] });
  try {
    const [results] = (await Promise.race([
      once(worker, 'message'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('the fixture did not finish in 10 s')), 10_000)),
    ])) as [BridgeFixtureResult[]];
    return results;
  } finally {
    await worker.terminate();
    ends.mainPort.close();
  }
}

const never = () => new Promise<HostReply>(() => {});

describe('host bridge', () => {
  test('every call carries its own correlation id and gets its own reply', async () => {
    const seen: number[] = [];
    const results = await run([{}, {}, {}], async (call) => {
      seen.push(call.callId);
      return { ok: true, value: call.op === 'kv' ? call.store : undefined };
    });
    assert.deepEqual(results, [{ value: 'call-0' }, { value: 'call-1' }, { value: 'call-2' }]);
    assert.equal(new Set(seen).size, 3, 'three distinct ids');
  });

  test('a refusal from the main thread arrives as its status', async () => {
    const results = await run([{}], async () => ({ ok: false, status: 'ACCESS_DENIED', message: 'no' }));
    assert.deepEqual(results, [{ status: 'ACCESS_DENIED', message: 'no' }]);
  });

  test('a late reply to a call the worker gave up on is dropped, not taken as the next call’s reply', async () => {
    let first: ((reply: HostReply) => void) | undefined;
    const results = await run([{ deadlineInMs: 50 }, {}], (call) => {
      if (call.op === 'kv' && call.store === 'call-0') return new Promise((resolve) => (first = resolve));
      // The first call's answer arrives only now, just before the second's.
      first?.({ ok: true, value: 'late answer to call 0' });
      return Promise.resolve({ ok: true, value: 'answer to call 1' });
    });
    assert.equal((results[0] as { status: string }).status, 'TIMEOUT');
    assert.deepEqual(results[1], { value: 'answer to call 1' });
  });

  test('the worker stops waiting a grace period after the deadline when the main thread never answers', async () => {
    const started = Date.now();
    const results = await run([{ deadlineInMs: 100 }], never);
    const waited = Date.now() - started;
    assert.equal((results[0] as { status: string }).status, 'TIMEOUT');
    assert.ok(waited >= 100 + WORKER_WAIT_GRACE_MS - 50, `waited ${waited} ms`);
  });
});

describe('host-call bound on the main thread', () => {
  const call = (deadlineAt: number | undefined) => ({ op: 'kv' as const, deadlineAt });

  test('is the tighter of the capability bound and what is left of the deadline', () => {
    assert.deepEqual(callBound(call(1_000 + 300), 5000, 1_000), { ms: 300 + DEADLINE_BACKSTOP_MS, why: "the request's deadline" });
    assert.deepEqual(callBound(call(1_000 + 9000), 5000, 1_000), { ms: 5000, why: 'the host-call bound' });
    assert.deepEqual(callBound(call(undefined), 5000, 1_000), { ms: 5000, why: 'the host-call bound' });
    assert.equal(callBound(call(undefined), undefined, 1_000), undefined);
  });

  test('a hung backend answers TIMEOUT once the bound has passed', async () => {
    const started = Date.now();
    const reply = await withinBound(call(undefined), 50, never());
    assert.equal(reply.ok, false);
    assert.equal(!reply.ok && reply.status, 'TIMEOUT');
    assert.match(!reply.ok ? reply.message : '', /kv took longer than 50 ms \(the host-call bound\)/);
    assert.ok(Date.now() - started < 1000);
  });

  test('a call past the request deadline answers TIMEOUT at the deadline, not at the capability bound', async () => {
    const reply = await withinBound(call(Date.now() + 30), 5000, never());
    assert.match(!reply.ok ? reply.message : '', /the request's deadline/);
  });

  test('a reply within the bound is passed through', async () => {
    assert.deepEqual(await withinBound(call(Date.now() + 1000), 5000, Promise.resolve({ ok: true, value: 7 })), { ok: true, value: 7 });
  });
});
