/**
 * Builds examples/users-api (TypeScript, `[component.users.build] typescript`) once with
 * `verge build`, then serves the same users.wasm twice with `verge up`: as the example's own
 * manifest has it (a fresh instance per request), and from a copy of the manifest with
 * `instance_reuse = 50`. Both runs go through the same suite over HTTP: every endpoint and
 * error, the duplicate-email and double-delete races, and the data surviving a restart.
 *
 * Each run has its own data dir, so lists start empty.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVerge, startVerge, type VergeProcess } from '../../../test/support/verge-process.js';

const APP = fileURLToPath(new URL('../../../../examples/users-api', import.meta.url));
const WASM = path.join(APP, 'users.wasm');
const MAX_BODY_BYTES = 64 * 1024;
const LABEL = 'd'.repeat(63);
/** The longest valid address (254 characters), and one character more. */
const EMAIL_254 = `b@${LABEL}.${LABEL}.${LABEL}.${'d'.repeat(56)}.com`;
const EMAIL_255 = `a@${LABEL}.${LABEL}.${LABEL}.${'d'.repeat(57)}.com`;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

interface User {
  id: string;
  name: string;
  email: string;
  createdAt: string;
}

async function call(node: VergeProcess, method: string, urlPath: string, body?: string | Uint8Array): Promise<Reply> {
  const res = await fetch(node.url + urlPath, {
    method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Left undefined: the assertions report the status and the text.
  }
  return { status: res.status, headers: res.headers, text, json };
}

function fields(r: Reply): Record<string, unknown> {
  assert.ok(typeof r.json === 'object' && r.json !== null && !Array.isArray(r.json), `expected a JSON object, got ${r.status} ${r.text}`);
  return r.json as Record<string, unknown>;
}

function postUser(node: VergeProcess, body: unknown): Promise<Reply> {
  return call(node, 'POST', '/api/users', JSON.stringify(body));
}

async function createUser(node: VergeProcess, name: string, email: string): Promise<User> {
  const r = await postUser(node, { name, email });
  assert.equal(r.status, 201, r.text);
  return r.json as User;
}

function assertJsonType(r: Reply): void {
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/, `content-type of ${r.status} ${r.text}`);
}

function assertError(r: Reply, status: number, code: string, what = ''): Record<string, unknown> {
  assert.equal(r.status, status, `${what} ${r.text}`);
  assertJsonType(r);
  const body = fields(r);
  assert.equal(body.error, code, `${what} ${r.text}`);
  assert.equal(typeof body.message, 'string', `${what} ${r.text}`);
  return body;
}

/** The example's manifest with `instance_reuse` and the absolute path of the already built module. */
function reuseManifest(dir: string, reuse: number, grant = true): string {
  const file = path.join(dir, 'verge.toml');
  writeFileSync(
    file,
    `[application]
name = "users-api-reuse"

[[route]]
path = "/api/..."
component = "users"

[component.users]
source = ${JSON.stringify(WASM)}
key_value_stores = ${grant ? '["users"]' : '[]'}
instance_reuse = ${reuse}
limits = { max_request_bytes = 1048576 }

[key_value_stores.users]
backend = "sqlite"
`,
  );
  return file;
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'verge-users-api-'));

before(async () => {
  const build = await runVerge(['build', APP]);
  if (build.code !== 0) throw new Error(`verge build ${APP} exited with ${build.code}:\n${build.stdout}\n${build.stderr}`);
});

after(() => {
  rmSync(tmp, { recursive: true, force: true });
});

const variants: Array<[string, () => string]> = [
  ['a fresh instance per request', () => APP],
  ['instance_reuse = 50', () => reuseManifest(mkdtempSync(path.join(tmp, 'reuse-')), 50)],
];

for (const [variant, manifest] of variants) {
  describe(`examples/users-api (${variant})`, () => {
    let node: VergeProcess;
    let dataDir: string;
    let manifestPath: string;
    const serve = (): Promise<VergeProcess> => startVerge(manifestPath, ['--data-dir', dataDir]);

    before(async () => {
      manifestPath = manifest();
      dataDir = mkdtempSync(path.join(tmp, 'data-'));
      node = await serve();
    });
    after(async () => {
      await node?.stop();
    });

    test('GET /api/health answers 200 {"status":"ok"}', async () => {
      const r = await call(node, 'GET', '/api/health');
      assert.equal(r.status, 200);
      assertJsonType(r);
      assert.deepEqual(r.json, { status: 'ok' });
    });

    test('GET /api/users starts as an empty array', async () => {
      const r = await call(node, 'GET', '/api/users');
      assert.equal(r.status, 200);
      assertJsonType(r);
      assert.deepEqual(r.json, []);
    });

    test('POST /api/users creates a user: 201 with a location, the name trimmed and the email lowercased', async () => {
      const r = await postUser(node, { name: '  Ada Lovelace ', email: ' Ada@Example.COM' });
      assert.equal(r.status, 201, r.text);
      assertJsonType(r);
      const user = fields(r);
      assert.deepEqual(Object.keys(user).sort(), ['createdAt', 'email', 'id', 'name']);
      assert.match(String(user.id), /^[0-9a-f]{16}$/);
      assert.equal(user.name, 'Ada Lovelace');
      assert.equal(user.email, 'ada@example.com');
      assert.ok(Math.abs(Date.parse(String(user.createdAt)) - Date.now()) < 60_000, `createdAt ${user.createdAt}`);
      assert.equal(r.headers.get('location'), `/api/users/${user.id}`);

      const got = await call(node, 'GET', `/api/users/${user.id}`);
      assert.equal(got.status, 200);
      assertJsonType(got);
      assert.deepEqual(got.json, user);
    });

    test('GET /api/users lists every user in creation order', async () => {
      const created = [];
      for (const n of ['b', 'c', 'a', 'd']) created.push(await createUser(node, `List ${n}`, `list-${n}@example.org`));
      const r = await call(node, 'GET', '/api/users');
      assert.equal(r.status, 200);
      assertJsonType(r);
      assert.ok(Array.isArray(r.json));
      const listed = (r.json as User[]).filter((u) => u.email.startsWith('list-'));
      assert.deepEqual(listed, created);
    });

    test('GET /api/users follows the store cursor past one page of keys', async () => {
      // Verge pages wasi:keyvalue list-keys by 1000 keys; each user has at least four keys.
      const count = 260;
      // Ten at a time: this test is about paging, and 260 writers at once on a loaded machine can
      // hold SQLite's write lock past the store's busy timeout (a 503 by design, tested elsewhere).
      const replies: Awaited<ReturnType<typeof postUser>>[] = [];
      for (let i = 0; i < count; i += 10) {
        replies.push(...(await Promise.all(Array.from({ length: Math.min(10, count - i) }, (_, k) => postUser(node, { name: `Page ${i + k}`, email: `page-${i + k}@example.net` })))));
      }
      for (const r of replies) assert.equal(r.status, 201, r.text);
      const r = await call(node, 'GET', '/api/users');
      assert.equal(r.status, 200);
      const pages = (r.json as User[]).filter((u) => u.email.startsWith('page-'));
      assert.equal(pages.length, count);
      assert.equal(new Set(pages.map((u) => u.id)).size, count);
      assert.deepEqual(new Set(pages.map((u) => u.id)), new Set(replies.map((p) => (p.json as User).id)));
    });

    test('POST /api/users validates name and email and names the field', async () => {
      const ok = { name: 'Valid', email: 'valid@example.com' };
      assert.deepEqual([EMAIL_254.length, EMAIL_255.length], [254, 255]);
      const cases: Array<[string, Record<string, unknown>]> = [
        ['name', { email: ok.email }],
        ['name', { ...ok, name: 42 }],
        ['name', { ...ok, name: null }],
        ['name', { ...ok, name: '' }],
        ['name', { ...ok, name: '   \t ' }],
        ['name', { ...ok, name: 'n'.repeat(101) }],
        ['email', { name: ok.name }],
        ['email', { ...ok, email: ['a@b.co'] }],
        ['email', { ...ok, email: '' }],
        ['email', { ...ok, email: 'no-at-sign.example.com' }],
        ['email', { ...ok, email: 'no-tld@example' }],
        ['email', { ...ok, email: 'two@@example.com' }],
        ['email', { ...ok, email: 'spa ce@example.com' }],
        ['email', { ...ok, email: '.dot@example.com' }],
        ['email', { ...ok, email: 'a@-example.com' }],
        ['email', { ...ok, email: 'a@example.c0m' }],
        ['email', { ...ok, email: `${'l'.repeat(65)}@example.com` }],
        ['email', { ...ok, email: EMAIL_255 }],
      ];
      for (const [field, body] of cases) {
        const what = JSON.stringify(body).slice(0, 100);
        const e = assertError(await postUser(node, body), 400, 'VALIDATION', what);
        assert.equal(e.field, field, what);
      }
      for (const body of [[ok], 'a string', 7, null]) {
        assertError(await postUser(node, body), 400, 'VALIDATION', JSON.stringify(body));
      }

      // The bounds themselves are valid: 100 characters (astral ones count once), 254 for the email.
      const longName = await postUser(node, { name: '𝔄'.repeat(100), email: 'long-name@example.com' });
      assert.equal(longName.status, 201, longName.text);
      const longEmail = await postUser(node, { name: 'Long email', email: EMAIL_254 });
      assert.equal(longEmail.status, 201, longEmail.text);
      const plus = await postUser(node, { name: 'Plus', email: "o'brien+tag@mail.example.co.uk" });
      assert.equal(plus.status, 201, plus.text);

      // Nothing invalid was stored.
      const list = (await call(node, 'GET', '/api/users')).json as User[];
      assert.ok(!list.some((u) => u.email === ok.email));
    });

    test('POST /api/users with malformed JSON answers 400 BAD_JSON', async () => {
      const bodies: Array<string | Uint8Array> = ['{"name": "x",', 'not json', '{"name":"a","email":"a@b.co"} trailing', '', new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d])];
      for (const body of bodies) {
        assertError(await call(node, 'POST', '/api/users', body), 400, 'BAD_JSON', String(body).slice(0, 40));
      }
    });

    test('POST /api/users with a body over 64 KiB answers 413; exactly 64 KiB is accepted', async () => {
      const base = JSON.stringify({ name: 'Big', email: 'big@example.com', pad: '' });
      const exact = JSON.stringify({ name: 'Big', email: 'big@example.com', pad: 'p'.repeat(MAX_BODY_BYTES - base.length) });
      assert.equal(exact.length, MAX_BODY_BYTES);
      const over = JSON.stringify({ name: 'Big', email: 'big2@example.com', pad: 'p'.repeat(MAX_BODY_BYTES + 1 - base.length - 1) });
      assert.equal(over.length, MAX_BODY_BYTES + 1);

      assertError(await call(node, 'POST', '/api/users', over), 413, 'PAYLOAD_TOO_LARGE');
      // Without a content-length (a stream of unknown length), the cap applies while reading.
      const streamed = await fetch(node.url + '/api/users', {
        method: 'POST',
        body: new Blob([over]).stream(),
        duplex: 'half',
      } as RequestInit & { duplex: 'half' });
      assert.equal(streamed.status, 413, await streamed.clone().text());
      assert.equal(((await streamed.json()) as { error: string }).error, 'PAYLOAD_TOO_LARGE');

      const r = await call(node, 'POST', '/api/users', exact);
      assert.equal(r.status, 201, r.text);
    });

    test('POST /api/users with an email already used answers 409 CONFLICT, whatever its case', async () => {
      await createUser(node, 'First', 'taken@example.com');
      for (const email of ['taken@example.com', 'TAKEN@example.com', ' Taken@Example.Com ']) {
        const e = assertError(await postUser(node, { name: 'Second', email }), 409, 'CONFLICT', email);
        assert.equal(e.field, 'email');
      }
    });

    test('of 20 concurrent POSTs of one email exactly one gets 201, the others 409', async () => {
      const replies = await Promise.all(
        Array.from({ length: 20 }, (_, i) => postUser(node, { name: `Racer ${i}`, email: 'race@example.com' })),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [201, ...Array(19).fill(409)], replies.map((r) => r.text).join('\n'));
      for (const r of replies.filter((r) => r.status === 409)) assert.equal(fields(r).error, 'CONFLICT');
      const list = (await call(node, 'GET', '/api/users')).json as User[];
      assert.equal(list.filter((u) => u.email === 'race@example.com').length, 1);
    });

    test('GET and DELETE /api/users/:id answer 404 NOT_FOUND for an unknown or malformed id', async () => {
      for (const id of ['0123456789abcdef', 'nope', 'ABCDEF0123456789', '%zz']) {
        assertError(await call(node, 'GET', `/api/users/${id}`), 404, 'NOT_FOUND', `GET ${id}`);
        assertError(await call(node, 'DELETE', `/api/users/${id}`), 404, 'NOT_FOUND', `DELETE ${id}`);
      }
    });

    test('DELETE /api/users/:id answers 204, then 404, and frees the email', async () => {
      const user = await createUser(node, 'Leaving', 'leaving@example.com');
      const del = await call(node, 'DELETE', `/api/users/${user.id}`);
      assert.equal(del.status, 204, del.text);
      assert.equal(del.text, '');
      assertError(await call(node, 'GET', `/api/users/${user.id}`), 404, 'NOT_FOUND');
      assertError(await call(node, 'DELETE', `/api/users/${user.id}`), 404, 'NOT_FOUND');
      const list = (await call(node, 'GET', '/api/users')).json as User[];
      assert.ok(!list.some((u) => u.id === user.id));

      const again = await createUser(node, 'Back again', 'Leaving@example.com');
      assert.notEqual(again.id, user.id);
      assertError(await postUser(node, { name: 'Third', email: 'leaving@example.com' }), 409, 'CONFLICT');
    });

    test('of 10 concurrent DELETEs of one user exactly one gets 204, and the email is freed once', async () => {
      const user = await createUser(node, 'Contested', 'contested@example.com');
      const replies = await Promise.all(Array.from({ length: 10 }, () => call(node, 'DELETE', `/api/users/${user.id}`)));
      assert.deepEqual(replies.map((r) => r.status).sort(), [204, ...Array(9).fill(404)]);
      // The email is free for exactly one new owner, even under a race.
      const posts = await Promise.all(
        Array.from({ length: 10 }, (_, i) => postUser(node, { name: `Heir ${i}`, email: 'contested@example.com' })),
      );
      assert.deepEqual(posts.map((r) => r.status).sort(), [201, ...Array(9).fill(409)]);
    });

    test('another method on a known path answers 405 with an allow header', async () => {
      const cases: Array<[string, string, string]> = [
        ['POST', '/api/health', 'GET'],
        ['DELETE', '/api/users', 'GET, POST'],
        ['PUT', '/api/users', 'GET, POST'],
        ['PATCH', '/api/users/0123456789abcdef', 'GET, DELETE'],
        ['PUT', '/api/users/0123456789abcdef', 'GET, DELETE'],
      ];
      for (const [method, urlPath, allow] of cases) {
        const r = await call(node, method, urlPath, method === 'DELETE' ? undefined : '{}');
        assertError(r, 405, 'METHOD_NOT_ALLOWED', `${method} ${urlPath}`);
        assert.equal(r.headers.get('allow'), allow, `${method} ${urlPath}`);
      }
    });

    test('an unknown path under /api answers 404 JSON from the component', async () => {
      for (const urlPath of ['/api', '/api/', '/api/nope', '/api/users/', '/api/users/0123456789abcdef/extra', '/api/health/x']) {
        assertError(await call(node, 'GET', urlPath), 404, 'NOT_FOUND', urlPath);
      }
      // A query string does not change the route.
      assert.equal((await call(node, 'GET', '/api/health?verbose=1')).status, 200);
    });

    test('every write logs one line through wasi:logging', async () => {
      const user = await createUser(node, 'Logged', 'logged@example.com');
      assert.equal((await call(node, 'DELETE', `/api/users/${user.id}`)).status, 204);
      const mentions = (what: string): number => node.logs().filter((l) => JSON.stringify(l).includes(what)).length;
      await waitFor(() => mentions(`deleted user ${user.id}`) === 1);
      assert.equal(mentions(`created user ${user.id}`), 1);
      assert.equal(mentions(`deleted user ${user.id}`), 1);
      assert.ok(!node.logs().some((l) => JSON.stringify(l).includes('logged@example.com')), 'emails stay out of the log');
    });

    test('users survive a restart of verge (SQLite store in the data dir)', async () => {
      const user = await createUser(node, 'Durable', 'durable@example.com');
      const before = (await call(node, 'GET', '/api/users')).json as User[];
      assert.equal(await node.stop(), 0);

      node = await serve();
      const got = await call(node, 'GET', `/api/users/${user.id}`);
      assert.equal(got.status, 200, got.text);
      assert.deepEqual(got.json, user);
      assert.deepEqual((await call(node, 'GET', '/api/users')).json, before);
      // The email index survived too.
      assertError(await postUser(node, { name: 'Copy', email: 'durable@example.com' }), 409, 'CONFLICT');
    });
  });
}

describe('examples/users-api without the store granted', () => {
  let node: VergeProcess;
  before(async () => {
    node = await startVerge(reuseManifest(mkdtempSync(path.join(tmp, 'deny-')), 1, false), ['--data-dir', mkdtempSync(path.join(tmp, 'data-'))]);
  });
  after(async () => {
    await node?.stop();
  });

  test('a request that needs the store answers 500 INTERNAL naming it; health still answers', async () => {
    const e = assertError(await call(node, 'GET', '/api/users'), 500, 'INTERNAL');
    assert.match(String(e.message), /"users" store is not granted/);
    assert.equal((await call(node, 'GET', '/api/health')).status, 200);
  });
});

async function waitFor(check: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
