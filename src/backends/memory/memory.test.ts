import { test } from 'node:test';
import assert from 'node:assert/strict';
import { storeContract } from '../contract.js';
import { createMemoryStore } from './memory-store.js';

storeContract('memory', async () => createMemoryStore());

test('memory stores created separately do not share keys', async () => {
  const one = createMemoryStore();
  const two = createMemoryStore();
  await one.set('k', Uint8Array.of(1));
  assert.equal(await two.exists('k'), false);
  assert.equal(one.kind, 'memory');
});
