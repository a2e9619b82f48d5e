import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CLAIM_CELLS, JobClaims } from './job-claims.js';

describe('JobClaims (who runs a posted request: its worker, or nobody)', () => {
  test('the worker claims a request once; the pool then cannot take it back', () => {
    const claims = new JobClaims();
    const c = claims.offer(() => false);
    assert.equal(claims.claim(c), true);
    assert.equal(claims.claim(c), false, 'claimed twice');
    assert.equal(claims.revoke(c), false);
  });

  test('a request the pool took back is never claimed by the worker', () => {
    const claims = new JobClaims();
    const c = claims.offer(() => false);
    assert.equal(claims.revoke(c), true);
    assert.equal(claims.claim(c), false);
    assert.equal(claims.revoke(c), false, 'taken back twice');
  });

  test('the pool sees whether the worker has claimed a request, and a revoked one never reads as claimed', () => {
    const pool = new JobClaims();
    const worker = new JobClaims(pool.buffer);
    const a = pool.offer(() => false);
    const b = pool.offer((cell) => cell === a.cell);
    assert.equal(pool.claimed(a), false);
    assert.equal(worker.claim(a), true);
    assert.equal(pool.claimed(a), true);
    assert.equal(pool.revoke(b), true);
    assert.equal(worker.claim(b), false);
    assert.equal(pool.claimed(b), false);
  });

  test('both sides see the same cells through the shared buffer', () => {
    const pool = new JobClaims();
    const worker = new JobClaims(pool.buffer);
    const c = pool.offer(() => false);
    assert.equal(worker.claim(c), true);
    assert.equal(pool.revoke(c), false);
  });

  test('a stale message for a cell that was since given to another request is not claimed', () => {
    const claims = new JobClaims();
    const stale = claims.offer(() => false);
    assert.equal(claims.revoke(stale), true);
    let reused = claims.offer(() => false);
    while (reused.cell !== stale.cell) reused = claims.offer(() => false);
    assert.equal(claims.claim(stale), false, 'the stale message ran');
    assert.equal(claims.claim(reused), true);
  });

  test('never offers a cell that a pending request holds', () => {
    const claims = new JobClaims();
    const pending = claims.offer(() => false);
    for (let i = 0; i < 3 * CLAIM_CELLS; i++) {
      const c = claims.offer((cell) => cell === pending.cell);
      assert.notEqual(c.cell, pending.cell);
      claims.claim(c);
    }
    assert.equal(claims.claim(pending), true, 'the pending request lost its cell');
  });
});
