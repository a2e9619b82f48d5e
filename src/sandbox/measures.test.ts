import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FromWorker } from '../dispatch/protocol.js';
import { HOST_CALLS_PER_BATCH, RequestMeasures } from './measures.js';

function measures() {
  const posted: FromWorker[] = [];
  return { m: new RequestMeasures((msg) => posted.push(msg)), posted };
}

describe('request measures: what a worker sends back with every answer', () => {
  test('an answer carries its host calls as code and seconds pairs, and the next request starts with none', () => {
    const { m, posted } = measures();
    m.start('r1', 1000.5);
    m.instantiated(0.25, false);
    m.memory(65536);
    m.hostCall(3, 0.001);
    m.hostCall(7, 0.002);
    const first = m.take();
    assert.deepEqual({ ...first, hostCalls: [...first.hostCalls!] }, { claimedAt: 1000.5, instantiateMs: 0.25, prepared: false, memoryBytes: 65536, hostCalls: [3, 0.001, 7, 0.002] });
    m.start('r2', 2000);
    assert.deepEqual(m.take(), { claimedAt: 2000, instantiateMs: -1, prepared: false, memoryBytes: -1 }, 'nothing of r1 is left in r2');
    assert.equal(posted.length, 0, 'no message of its own for a handful of calls');
  });

  test('a request that makes more host calls than one answer carries sends each full batch ahead, and none is lost', () => {
    const { m, posted } = measures();
    m.start('busy', 0);
    const calls = HOST_CALLS_PER_BATCH * 2 + 10;
    for (let i = 0; i < calls; i++) m.hostCall(i % 5, i);
    const last = m.take().hostCalls!;
    const batches = posted.map((p) => (p.t === 'host-calls' && p.id === 'busy' ? p.calls : assert.fail(`unexpected ${p.t}`)));
    assert.deepEqual(batches.map((b) => b.length / 2), [HOST_CALLS_PER_BATCH, HOST_CALLS_PER_BATCH]);
    const seconds = [...batches, last].flatMap((b) => [...b].filter((_, i) => i % 2 === 1));
    assert.deepEqual(seconds, Array.from({ length: calls }, (_, i) => i), 'every call once, in order');
  });

  test('an instance made ahead of the request is marked prepared', () => {
    const { m } = measures();
    m.start('r', 0);
    m.instantiated(3, true);
    assert.equal(m.take().prepared, true);
  });
});
