/** `verge kv` as a user runs it: on the store files, and through a running node's admin API. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const TOKEN = 'kv-test-token-0123456789';

async function kvApp(): Promise<string> {
  const wasm = await wat(`(module ${FD_WRITE} (memory 2) ${respondWith('status: 204\n\n')} (func (export "_start") (call $respond)))`);
  return writeApp('kvshop', { web: { route: '/...', wasm } }, '[key_value_stores.cache]\nbackend = "memory"');
}

test('verge kv sets, gets, lists and deletes in the SQLite store of an app folder', async () => {
  const dir = await kvApp();
  const kv = (...args: string[]) => runVerge(['kv', ...args, '--app', dir]);
  assert.equal((await kv('set', 'user:1', '{"name":"ada"}', '--json')).code, 0);
  assert.equal((await kv('set', 'user:2', 'bob')).code, 0);
  const bin = path.join(dir, 'in.bin');
  writeFileSync(bin, Buffer.from([0, 1, 2, 0xff]));
  assert.equal((await kv('set', 'blob', '--file', bin)).code, 0);
  const json = await kv('get', 'user:1', '--json');
  assert.equal(json.stdout, '{\n  "name": "ada"\n}\n');
  const out = path.join(dir, 'out.bin');
  assert.equal((await kv('get', 'blob', '--out', out)).code, 0);
  assert.deepEqual([...readFileSync(out)], [0, 1, 2, 0xff]);
  assert.equal((await kv('list', '--prefix', 'user:')).stdout, 'user:1\nuser:2\n');
  const page = await kv('list', '--limit', '1');
  assert.equal(page.stdout, 'blob\n');
  assert.match(page.stderr, /more keys follow: --cursor "blob"/);
  assert.equal((await kv('list', '--limit', '5', '--cursor', 'blob')).stdout, 'user:1\nuser:2\n');
  assert.equal((await kv('delete', 'user:2')).code, 0);
  const missing = await kv('get', 'user:2');
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /has no key "user:2"/);
  const unknown = await kv('list', '--store', 'nope');
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no key-value store named "nope"; its stores: default, cache/);
  const memory = await kv('list', '--store', 'cache');
  assert.equal(memory.code, 1);
  assert.match(memory.stderr, /memory store: it lives only inside a running node/);
});

const nodes: VergeProcess[] = [];
after(async () => {
  for (const n of nodes) await n.stop();
});

test('verge kv --from goes through the admin API: token required, writes only with --kv-writes', async () => {
  const dir = await kvApp();
  const env = { VERGE_ADMIN_TOKEN: TOKEN };
  const readOnly = await startVerge(dir, [], { admin: true, env });
  nodes.push(readOnly);
  const wrong = await runVerge(['kv', 'list', '--from', readOnly.adminUrl!], { env: { VERGE_ADMIN_TOKEN: 'wrong-token-0123456789' } });
  assert.equal(wrong.code, 3);
  assert.match(wrong.stderr, /ADMIN_UNAUTHORIZED/);
  const refused = await runVerge(['kv', 'set', 'k', 'v', '--from', readOnly.adminUrl!], { env });
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /--kv-writes.*KV_WRITES_DISABLED/);
  await readOnly.stop();

  const node = await startVerge(dir, ['--kv-writes'], { admin: true, env });
  nodes.push(node);
  const kv = (...args: string[]) => runVerge(['kv', ...args, '--from', node.adminUrl!], { env });
  for (const store of ['default', 'cache']) {
    assert.equal((await kv('set', 'greeting', 'hello', '--store', store)).code, 0);
    const got = await kv('get', 'greeting', '--store', store);
    assert.equal(got.stdout, 'hello');
    assert.equal((await kv('list', '--store', store)).stdout, 'greeting\n');
    assert.equal((await kv('delete', 'greeting', '--store', store)).code, 0);
    const gone = await kv('get', 'greeting', '--store', store);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /has no key "greeting"/);
  }
  const unknown = await kv('list', '--store', 'nope');
  assert.equal(unknown.code, 3);
  assert.match(unknown.stderr, /its stores: default, cache/);
  // The node and the CLI agree on where the SQLite data lives.
  assert.equal((await kv('set', 'shared', 'yes')).code, 0);
  assert.equal((await runVerge(['kv', 'get', 'shared', '--app', dir])).stdout, 'yes');
  assert.ok(node.logs().some((r) => r.action === 'kv-set' && r.key === 'shared'), 'the write is in the audit log');
});
