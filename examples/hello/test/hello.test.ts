/** Builds examples/hello (AssemblyScript) with `verge build` and serves it with `verge up`. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildAndServe, type VergeProcess } from '../../../test/support/verge-process.js';

const APP = fileURLToPath(new URL('../../../../examples/hello', import.meta.url));

async function call(node: VergeProcess, method: string, path: string, body?: string) {
  const res = await fetch(node.url + path, { method, body, headers: body === undefined ? {} : { 'content-type': 'application/json' } });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

describe('examples/hello', () => {
  let node: VergeProcess;
  before(async () => {
    node = await buildAndServe(APP);
  });
  after(async () => {
    await node?.stop();
  });

  test('GET /api/hello greets in JSON', async () => {
    const r = await call(node, 'GET', '/api/hello');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(r.json(), { message: 'Hello from Wasm!' });
  });

  test('GET /api/health reports ok', async () => {
    assert.deepEqual((await call(node, 'GET', '/api/health')).json(), { status: 'ok' });
  });

  test('GET /api/users lists users', async () => {
    const r = await call(node, 'GET', '/api/users');
    assert.equal(r.status, 200);
    const users = JSON.parse(r.text) as Array<Record<string, unknown>>;
    assert.ok(Array.isArray(users) && users.length > 0);
    for (const u of users) assert.deepEqual(Object.keys(u).sort(), ['email', 'id', 'name']);
  });

  test('POST /api/users echoes the user with a new id and 201', async () => {
    const r = await call(node, 'POST', '/api/users', JSON.stringify({ name: 'Grace "Amazing" Hopper', email: 'grace@example.com' }));
    assert.equal(r.status, 201);
    const user = r.json();
    assert.equal(user.name, 'Grace "Amazing" Hopper');
    assert.equal(user.email, 'grace@example.com');
    assert.match(String(user.id), /^[0-9a-f]{16}$/);
    const again = (await call(node, 'POST', '/api/users', JSON.stringify({ name: 'Grace', email: 'g@example.com' }))).json();
    assert.notEqual(again.id, user.id, 'each request draws a fresh id');
  });

  test('POST /api/users with bad JSON answers 400 BAD_JSON', async () => {
    for (const body of ['{"name": "x",', 'not json', '{"name":"a","email":"b"} trailing']) {
      const r = await call(node, 'POST', '/api/users', body);
      assert.equal(r.status, 400, body);
      assert.equal(r.json().error, 'BAD_JSON', body);
    }
  });

  test('POST /api/users without a name or email answers 400 naming the field', async () => {
    const r = await call(node, 'POST', '/api/users', JSON.stringify({ name: 'Ada' }));
    assert.equal(r.status, 400);
    assert.equal(r.json().error, 'VALIDATION');
    assert.match(String(r.json().message), /email/);
  });

  test('unknown paths answer 404 JSON and wrong methods 405 with allow', async () => {
    const missing = await call(node, 'GET', '/api/nope');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error, 'NOT_FOUND');
    const wrong = await call(node, 'DELETE', '/api/hello');
    assert.equal(wrong.status, 405);
    assert.match(wrong.headers.get('allow') ?? '', /GET/);
    assert.equal((await call(node, 'GET', '/elsewhere')).status, 404);
  });
});
