import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSampler, shouldSample } from './sampler.js';

test('the parent-based sampler follows the caller and the ratio sampler keeps none at 0', () => {
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  const parentBased = createSampler('parentbased_always_on', 1);
  assert.equal(shouldSample(parentBased, traceId, undefined), true);
  assert.equal(shouldSample(parentBased, traceId, { traceId, spanId: '00f067aa0ba902b7', sampled: false }), false);
  assert.equal(shouldSample(parentBased, traceId, { traceId, spanId: '00f067aa0ba902b7', sampled: true }), true);
  assert.equal(shouldSample(createSampler('traceidratio', 0), traceId, { traceId, spanId: '00f067aa0ba902b7', sampled: true }), false);
  assert.equal(shouldSample(createSampler('always_off', 1), traceId, undefined), false);
});
