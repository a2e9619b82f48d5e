/**
 * The SQLite store under the real CLI: acknowledged writes survive kill -9 of the node, and a
 * locked database answers fast, opens the circuit breaker (its state and transitions in /metrics,
 * and the log), and recovers when the lock goes away.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { once } from 'node:events';
import Database from 'better-sqlite3';
import { counter } from '../support/capability-guests.js';
import { writeApp } from '../support/app.js';
import { startVerge } from '../support/verge-process.js';

async function hit(url: string): Promise<string> {
  return (await fetch(url)).text();
}

test('acknowledged KV writes survive kill -9 of the node', async () => {
  const dir = writeApp('durable', { count: { route: '/count', wasm: await counter('default'), extra: 'key_value_stores = ["default"]' } });
  const first = await startVerge(dir);
  let last = 0;
  try {
    for (let i = 1; i <= 25; i++) {
      last = Number(await hit(`${first.url}/count`));
      assert.equal(last, i);
    }
  } finally {
    const exited = once(first.proc, 'exit');
    first.proc.kill('SIGKILL');
    await exited;
  }
  const second = await startVerge(dir);
  try {
    assert.equal(Number(await hit(`${second.url}/count`)), last + 1, 'every acknowledged increment is still there');
  } finally {
    await second.stop();
  }
});

test('a locked SQLite store answers fast, opens the circuit breaker, and recovers when the lock is released', async () => {
  const dir = writeApp('locked', { count: { route: '/count', wasm: await counter('default'), extra: 'key_value_stores = ["default"]' } });
  const node = await startVerge(dir, ['--workers', '1'], { admin: true });
  const metrics = async () => (await fetch(`${node.adminUrl}/metrics`)).text();
  try {
    assert.equal(await hit(`${node.url}/count`), '1');
    // Another process-level connection takes the write lock and keeps it.
    const holder = new Database(path.join(dir, '.verge', 'data', 'default.sqlite'));
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const answers: string[] = [];
      const t0 = Date.now();
      for (let i = 0; i < 8; i++) answers.push(await hit(`${node.url}/count`));
      const elapsed = Date.now() - t0;
      // The first five wait out the busy timeout (TIMEOUT, 7); then the breaker is open (UNAVAILABLE, 5) and answers at once.
      assert.deepEqual(answers.slice(0, 5), Array(5).fill('error:7'));
      assert.deepEqual(answers.slice(5), Array(3).fill('error:5'));
      assert.ok(elapsed < 5 * 250 + 1000, `8 requests took ${elapsed} ms`);
      const open = await metrics();
      assert.match(open, /verge_kv_breaker_transitions_total\{app="locked",store="default",side="write",state="open"\} 1/);
      assert.match(open, /verge_kv_breaker_state\{app="locked",store="default",side="write"\} 2/);
      assert.ok(node.logs().some((l) => l.msg === 'kv circuit breaker opened' && l.store === 'default' && l.app === 'locked'));
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    // After the cool-down one trial call goes through, succeeds and closes the breaker.
    const until = Date.now() + 10_000;
    let answer = '';
    while (Date.now() < until) {
      answer = await hit(`${node.url}/count`);
      if (answer === '2') break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(answer, '2', 'the store recovered and lost nothing');
    const closed = await metrics();
    assert.match(closed, /verge_kv_breaker_transitions_total\{app="locked",store="default",side="write",state="closed"\} 1/);
    assert.match(closed, /verge_kv_breaker_state\{app="locked",store="default",side="write"\} 0/);
  } finally {
    await node.stop();
  }
});
