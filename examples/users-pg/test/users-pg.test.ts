/**
 * Builds examples/users-pg (Rust on verge-sdk, serde_json from Debian's crates) with
 * `verge build`, serves it with `verge up` against a real PostgreSQL with an empty database and a
 * real redis-server, and drives it over HTTP: the migration on first use, validation,
 * 201/404/409, the Redis cache (a hit does not reach PostgreSQL, its TTL, invalidation by POST and
 * DELETE, bypassed when Redis is down), injection attempts stored as data, and 503 when the
 * database is gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildAndServe, startVerge, type VergeProcess } from '../../../test/support/verge-process.js';
import { startPostgres, type PostgresServer } from '../../../test/support/postgres.js';
import { startRedis, type RedisServer } from '../../../test/support/redis-server.js';

const APP = fileURLToPath(new URL('../../../../examples/users-pg', import.meta.url));
const PASSWORD = 'users-app-pw-5e2c';

interface Reply {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

describe('examples/users-pg', () => {
  let pg: PostgresServer;
  let redis: RedisServer;
  let node: VergeProcess;

  const call = async (method: string, path: string, body?: unknown, on: VergeProcess = node): Promise<Reply> => {
    const res = await fetch(on.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });
    const text = await res.text();
    return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  const env = (): Record<string, string> => ({ VERGE_VAR_DB_PASSWORD: PASSWORD, VERGE_VAR_DB_PORT: String(pg.port), VERGE_VAR_REDIS_URL: redis.url });
  /** A user written behind Verge's back, straight into PostgreSQL. */
  const rename = (id: unknown, name: string) => pg.sql('UPDATE users SET name = $1 WHERE id = $2', [name, id], 'users');

  before(async () => {
    [pg, redis] = await Promise.all([startPostgres(), startRedis()]);
    // The app's own role and an empty database it owns: the service creates its schema.
    await pg.sql(`CREATE ROLE users_app LOGIN PASSWORD '${PASSWORD}'`);
    await pg.sql('CREATE DATABASE users OWNER users_app');
    node = await buildAndServe(APP, [], { env: env(), readyMs: 30_000 });
  });

  after(async () => {
    await node?.stop();
    await Promise.all([pg?.destroy(), redis?.stop()]);
  });

  test('answers hello, and health once the database answers', async () => {
    assert.deepEqual((await call('GET', '/api/hello')).json, { message: 'Hello from Wasm!' });
    assert.deepEqual(await call('GET', '/api/health').then((r) => [r.status, r.json]), [200, { status: 'ok', database: 'ok' }]);
  });

  test('creates its schema on first use, once, and lists no users yet', async () => {
    const [a, b] = await Promise.all([call('GET', '/api/users'), call('GET', '/api/users?limit=5')]);
    assert.deepEqual([a.status, a.json, b.status], [200, { users: [] }, 200]);
    const versions = await pg.sql('SELECT version FROM schema_migrations ORDER BY version', [], 'users');
    assert.deepEqual(versions.rows.map((r: { version: string }) => Number(r.version)), [1, 2]);
  });

  test('POST /api/users validates, answers 201 with the location, and 409 for an email taken in any case', async () => {
    const bad = await call('POST', '/api/users', { name: '', email: 'nope' });
    assert.equal(bad.status, 400);
    assert.deepEqual(Object.keys(bad.json.fields as object).sort(), ['email', 'name']);
    const created = await call('POST', '/api/users', { name: 'Ada Lovelace', email: 'ada@example.com' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('location'), `/api/users/${created.json.id}`);
    assert.match(String(created.json.created_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const dup = await call('POST', '/api/users', { name: 'Ada again', email: 'ADA@example.com' });
    assert.deepEqual([dup.status, dup.json.error], [409, 'EMAIL_TAKEN']);
  });

  test('two concurrent POSTs of one email: one 201, one 409', async () => {
    const replies = await Promise.all([1, 2].map((n) => call('POST', '/api/users', { name: `Racer ${n}`, email: 'race@example.com' })));
    assert.deepEqual(replies.map((r) => r.status).sort(), [201, 409]);
  });

  test('a name that looks like SQL is stored as text and the table stays', async () => {
    const name = "Robert'); DROP TABLE users; --";
    const created = await call('POST', '/api/users', { name, email: 'bobby@example.com' });
    assert.equal(created.status, 201);
    assert.equal((await call('GET', `/api/users/${created.json.id}`)).json.name, name);
    assert.equal((await call('GET', '/api/users')).status, 200);
  });

  test('GET /api/users/:id is cached in Redis with the TTL: a hit does not reach PostgreSQL', async () => {
    const created = await call('POST', '/api/users', { name: 'Grace Hopper', email: 'grace@example.com' });
    const path = `/api/users/${created.json.id}`;
    const first = await call('GET', path);
    const ttl = Number(await redis.cli('TTL', `user:${created.json.id}`));
    assert.ok(ttl > 50 && ttl <= 60, `TTL ${ttl} s, cache_ttl_seconds is 60`);
    await rename(created.json.id, 'Changed behind Verge');
    const second = await call('GET', path);
    assert.deepEqual([first.headers.get('x-cache'), second.headers.get('x-cache')], ['miss', 'hit']);
    assert.deepEqual(second.json, first.json, 'the cached user, not the changed row');
  });

  test('DELETE drops the cached user; a missing user is cached as missing until POST creates it', async () => {
    const created = await call('POST', '/api/users', { name: 'Edsger Dijkstra', email: 'ewd@example.com' });
    const path = `/api/users/${created.json.id}`;
    assert.equal((await call('GET', path)).status, 200);
    assert.equal((await call('DELETE', path)).status, 204);
    assert.deepEqual(await call('GET', path).then((r) => [r.status, r.headers.get('x-cache')]), [404, 'miss']);
    assert.deepEqual(await call('GET', path).then((r) => [r.status, r.headers.get('x-cache')]), [404, 'hit']);
    assert.equal((await call('DELETE', path)).status, 404);

    // The next id, read (and cached as missing) before the POST that creates it.
    await pg.sql("SELECT setval(pg_get_serial_sequence('users', 'id'), 5000)", [], 'users');
    assert.deepEqual(await call('GET', '/api/users/5001').then((r) => [r.status, r.headers.get('x-cache')]), [404, 'miss']);
    assert.equal((await call('GET', '/api/users/5001')).headers.get('x-cache'), 'hit');
    const next = await call('POST', '/api/users', { name: 'Barbara Liskov', email: 'liskov@example.com' });
    assert.equal(next.json.id, 5001);
    const read = await call('GET', '/api/users/5001');
    assert.deepEqual([read.status, read.headers.get('x-cache'), read.json.name], [200, 'miss', 'Barbara Liskov']);
  });

  test('an entry expires after cache_ttl_seconds, and the next read sees the row as it is now', async () => {
    const short = await startVerge(APP, [], { env: { ...env(), VERGE_VAR_CACHE_TTL_SECONDS: '1' }, readyMs: 30_000 });
    try {
      const created = await call('POST', '/api/users', { name: 'Alan Kay', email: 'kay@example.com' }, short);
      const path = `/api/users/${created.json.id}`;
      assert.equal((await call('GET', path, undefined, short)).headers.get('x-cache'), 'miss');
      await rename(created.json.id, 'Alan C. Kay');
      const seen: string[] = [];
      const deadline = Date.now() + 10_000;
      for (;;) {
        const r = await call('GET', path, undefined, short);
        seen.push(`${r.headers.get('x-cache')} ${String(r.json.name)}`);
        if (r.headers.get('x-cache') === 'miss') break;
        assert.equal(r.json.name, 'Alan Kay', 'a hit is the cached user');
        assert.ok(Date.now() < deadline, `still cached after 10 s: ${seen.slice(-3).join(', ')}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(seen.at(-1), 'miss Alan C. Kay');
      assert.ok(seen.length > 1, 'read from the cache before it expired');
    } finally {
      await short.stop();
    }
  });

  test('with Redis down, reads go to PostgreSQL and still answer', async () => {
    const created = await call('POST', '/api/users', { name: 'Frances Allen', email: 'allen@example.com' });
    await redis.kill();
    try {
      const r = await call('GET', `/api/users/${created.json.id}`);
      assert.deepEqual([r.status, r.headers.get('x-cache'), r.json.name], [200, 'miss', 'Frances Allen']);
    } finally {
      await redis.restart();
    }
  });

  test('GET /api/users?limit=N answers at most N users in id order; a bad limit is 400', async () => {
    const two = await call('GET', '/api/users?limit=2');
    const users = two.json.users as Array<{ id: number }>;
    assert.equal(users.length, 2);
    assert.ok(users[0]!.id < users[1]!.id);
    assert.equal((await call('GET', '/api/users?limit=0')).status, 400);
    assert.equal((await call('GET', '/api/users?limit=1;DROP')).status, 400);
  });

  test('with the database gone: health and reads are 503 with retry-after, and the password is never logged', async () => {
    await pg.stop();
    const health = await call('GET', '/api/health');
    assert.deepEqual([health.status, health.json.error, health.headers.get('retry-after')], [503, 'DATABASE_UNAVAILABLE', '1']);
    assert.equal((await call('GET', '/api/users')).status, 503);
    assert.ok(!node.stdout().includes(PASSWORD) && !node.stderr().includes(PASSWORD));
    await pg.start();
  });
});
