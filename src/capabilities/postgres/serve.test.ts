/**
 * The main thread's PostgreSQL service against a real server (test/support/postgres.ts): typed
 * results, parameters as data, the caps, errors with their SQLSTATE, transactions and their
 * end with the request, timeouts and cancellation, a server that is down or goes away, and the
 * allow-list for addresses a guest names.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, PG_PASSWORD, type PostgresServer } from '../../../test/support/postgres.js';
import type { RequestContext } from '../capability.js';
import { createOutboundPolicy } from '../outbound-http/policy.js';
import { DEFAULT_DATABASE_LIMITS, type PgDatabaseLimits } from './limits.js';
import { PgPool } from './pool.js';
import { createPgService } from './serve.js';
import type { PgCall, PgFailure, PgParam, PgReply } from './types.js';
import { parsePgUrl, type PgAddress } from './url.js';

const int = (value: number | bigint): PgParam => ({ kind: 'int', value: BigInt(value) });
const text = (value: string): PgParam => ({ kind: 'text', value });

/** A request's main-thread context; `end()` is what the pool does when the request is answered. */
function request(): RequestContext & { end(): void } {
  const abort = new AbortController();
  const locals = new Map<string, unknown>();
  return {
    signal: abort.signal,
    local<T>(key: string, make: () => T): T {
      if (!locals.has(key)) locals.set(key, make());
      return locals.get(key) as T;
    },
    end: () => abort.abort(),
  };
}

function address(url: string): PgAddress {
  const a = parsePgUrl(url);
  assert.ok(typeof a !== 'string', a as string);
  return a;
}

describe('the PostgreSQL service', () => {
  let server: PostgresServer;
  let pools: PgPool[] = [];
  const breakerStates: string[] = [];

  const service = (opts: { limits?: Partial<PgDatabaseLimits>; url?: string; allowed?: string[] } = {}) => {
    const limits = { ...DEFAULT_DATABASE_LIMITS, ...opts.limits };
    const pool = new PgPool({ address: address(opts.url ?? server.url('app')), label: 'database "main"', limits, explicit: true, onBreaker: (s) => breakerStates.push(s) });
    pools.push(pool);
    const urlPools = new Map<string, PgPool>();
    const serve = createPgService({
      named: new Map([['main', { pool, limits }]]),
      components: new Map([
        ['api', { databases: ['main'], policy: opts.allowed ? createOutboundPolicy(opts.allowed) : undefined }],
        ['other', { databases: [], policy: undefined }],
      ]),
      urlPool(key, make) {
        if (!urlPools.has(key)) urlPools.set(key, new PgPool(make()));
        pools.push(urlPools.get(key)!);
        return urlPools.get(key);
      },
    });
    let conn = 0;
    const call = (r: RequestContext, body: Partial<PgCall> & Pick<PgCall, 'action'>, component = 'api'): Promise<PgReply> =>
      serve({ conn: 0, target: { kind: 'named', name: 'main' }, ...body } as PgCall, component, r, Date.now() + 30_000);
    return {
      pool,
      call,
      newConn: () => ++conn,
      query: (r: RequestContext, statement: string, params: PgParam[] = [], c = 0) => call(r, { action: 'query', conn: c, statement, params }),
      execute: (r: RequestContext, statement: string, params: PgParam[] = [], c = 0) => call(r, { action: 'execute', conn: c, statement, params }),
    };
  };

  const show = (reply: PgReply) => JSON.stringify(reply, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
  const failed = (reply: PgReply): PgFailure => {
    assert.equal(reply.ok, false, `expected a failure, got ${show(reply)}`);
    return reply as PgFailure;
  };
  const rows = (reply: PgReply) => {
    assert.ok(reply.ok && reply.kind === 'rows', show(reply));
    return reply;
  };

  before(async () => {
    server = await startPostgres();
    await server.sql('CREATE DATABASE app');
    await server.sql('CREATE TABLE users (id bigserial PRIMARY KEY, name text NOT NULL, email text NOT NULL UNIQUE)', [], 'app');
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close()));
    await server?.destroy();
  });

  test('a query returns its columns and rows, each value typed by its column', async () => {
    const s = service();
    const r = request();
    const reply = rows(
      await s.query(
        r,
        `SELECT $1::bool AS b, $2::int2 AS i2, $3::int4 AS i4, $4::int8 AS i8, $5::float8 AS f, $6::text AS t, $7::bytea AS by,
                $8::numeric AS n, $9::uuid AS u, $10::jsonb AS j, $11::date AS d, $12::timestamp AS ts, $13::timestamptz AS tz,
                $14::int4[] AS arr, $15::text[] AS tags, NULL::text AS nothing, '1 day 2 hours'::interval AS iv`,
        [
          { kind: 'bool', value: true },
          int(-7),
          int(2147483647),
          int(2n ** 62n),
          { kind: 'float', value: 1.5 },
          text('héllo'),
          { kind: 'bytes', value: Uint8Array.of(0, 1, 254) },
          { kind: 'numeric', value: '12345678901234567890.25' },
          { kind: 'uuid', value: 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' },
          { kind: 'json', value: '{"a": [1, 2]}' },
          { kind: 'date', value: '2024-02-29' },
          { kind: 'timestamp', value: '2024-05-01T13:45:00.5' },
          { kind: 'timestamptz', value: '2024-05-01T15:45:00+02:00' },
          { kind: 'array', value: [int(1), null, int(3)] },
          { kind: 'array', value: [text('a "quoted", one'), text('b')] },
        ],
      ),
    );
    assert.deepEqual(
      reply.columns.map((c) => `${c.name}:${c.type}`),
      ['b:bool', 'i2:int2', 'i4:int4', 'i8:int8', 'f:float8', 't:text', 'by:bytea', 'n:numeric', 'u:uuid', 'j:jsonb', 'd:date', 'ts:timestamp', 'tz:timestamptz', 'arr:int4[]', 'tags:text[]', 'nothing:text', 'iv:interval'],
    );
    assert.deepEqual(reply.rows, [
      [true, -7n, 2147483647n, 2n ** 62n, 1.5, 'héllo', Uint8Array.of(0, 1, 254), '12345678901234567890.25', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2]}', '2024-02-29', '2024-05-01T13:45:00.5', '2024-05-01T13:45:00Z', [1n, null, 3n], ['a "quoted", one', 'b'], null, 'P1DT2H'],
    ]);
    r.end();
  });

  test('a parameter is data: quotes, a semicolon and a DROP TABLE in one are stored as text and run nothing', async () => {
    const s = service();
    const r = request();
    const evil = "x'); DROP TABLE users; --";
    const inserted = await s.execute(r, 'INSERT INTO users (name, email) VALUES ($1, $2)', [text(evil), text(`${evil}@example.com`)]);
    assert.deepEqual(inserted, { ok: true, kind: 'affected', rows: 1n });
    const back = rows(await s.query(r, 'SELECT name FROM users WHERE email = $1', [text(`${evil}@example.com`)]));
    assert.deepEqual(back.rows, [[evil]]);
    assert.equal((await server.sql("SELECT to_regclass('users') IS NOT NULL AS exists", [], 'app')).rows[0].exists, true);
    r.end();
  });

  test('two statements in one call are refused by PostgreSQL itself (one statement per call)', async () => {
    const s = service();
    const r = request();
    const f = failed(await s.execute(r, 'SELECT 1; DROP TABLE users'));
    assert.equal(f.sqlstate, '42601');
    assert.match(f.message, /cannot insert multiple commands into a prepared statement/);
    r.end();
  });

  test('execute returns the number of rows affected', async () => {
    const s = service();
    const r = request();
    await s.execute(r, 'CREATE TABLE counted (n int)');
    assert.deepEqual(await s.execute(r, 'INSERT INTO counted SELECT generate_series(1, $1::int)', [int(25)]), { ok: true, kind: 'affected', rows: 25n });
    assert.deepEqual(await s.execute(r, 'UPDATE counted SET n = n + 1 WHERE n > $1', [int(20)]), { ok: true, kind: 'affected', rows: 5n });
    r.end();
  });

  test('a PostgreSQL error comes back with its SQLSTATE and message; a duplicate key is CONFLICT', async () => {
    const s = service();
    const r = request();
    await s.execute(r, 'INSERT INTO users (name, email) VALUES ($1, $2)', [text('Ada'), text('ada@example.com')]);
    const dup = failed(await s.execute(r, 'INSERT INTO users (name, email) VALUES ($1, $2)', [text('Ada 2'), text('ada@example.com')]));
    assert.deepEqual([dup.status, dup.sqlstate, dup.cause], ['CONFLICT', '23505', 'query']);
    assert.match(dup.message, /duplicate key value violates unique constraint "users_email_key"/);
    const syntax = failed(await s.query(r, 'SELEC 1'));
    assert.deepEqual([syntax.status, syntax.sqlstate], ['INVALID_ARGUMENT', '42601']);
    r.end();
  });

  test('a result over max_rows fails with LIMIT_EXCEEDED stating the cap, and the next query is served', async () => {
    const s = service({ limits: { maxRows: 100 } });
    const r = request();
    const f = failed(await s.query(r, 'SELECT generate_series(1, 1000000)'));
    assert.equal(f.status, 'LIMIT_EXCEEDED');
    assert.match(f.message, /more than 100 rows \(the max_rows limit\)/);
    assert.equal(rows(await s.query(r, 'SELECT generate_series(1, 100)')).rows.length, 100, 'exactly the cap is fine');
    r.end();
  });

  test('a result over max_result_bytes fails with LIMIT_EXCEEDED stating the cap', async () => {
    const s = service({ limits: { maxResultBytes: 10_000 } });
    const r = request();
    const f = failed(await s.query(r, "SELECT repeat('x', 1000) FROM generate_series(1, 50)"));
    assert.equal(f.status, 'LIMIT_EXCEEDED');
    assert.match(f.message, /more than 10000 bytes of row data \(the max_result_bytes limit\)/);
    r.end();
  });

  test("a transaction's statements run on one session: rollback discards them, commit keeps them", async () => {
    const s = service();
    const r = request();
    const c = s.newConn();
    await s.execute(r, 'CREATE TABLE ledger (v text)');
    assert.deepEqual(await s.call(r, { action: 'begin', conn: c }), { ok: true, kind: 'done' });
    await s.execute(r, 'INSERT INTO ledger VALUES ($1)', [text('rolled back')], c);
    assert.equal(rows(await s.query(r, 'SELECT count(*) FROM ledger', [], c)).rows[0]![0], 1n, 'the transaction sees its own write');
    assert.equal(rows(await s.query(r, 'SELECT count(*) FROM ledger')).rows[0]![0], 0n, 'another connection does not');
    assert.deepEqual(await s.call(r, { action: 'rollback', conn: c }), { ok: true, kind: 'done' });
    await s.call(r, { action: 'begin', conn: c });
    await s.execute(r, 'INSERT INTO ledger VALUES ($1)', [text('kept')], c);
    assert.deepEqual(await s.call(r, { action: 'commit', conn: c }), { ok: true, kind: 'done' });
    assert.deepEqual(rows(await s.query(r, 'SELECT v FROM ledger')).rows, [['kept']]);
    assert.equal(failed(await s.call(r, { action: 'commit', conn: c })).status, 'INVALID_ARGUMENT', 'commit without a transaction');
    r.end();
  });

  test('BEGIN written as SQL keeps the session for the connection too, as in Spin', async () => {
    const s = service();
    const r = request();
    const c = s.newConn();
    await s.execute(r, 'CREATE TABLE sqlbegin (v int)');
    await s.execute(r, 'BEGIN', [], c);
    await s.execute(r, 'INSERT INTO sqlbegin VALUES (1)', [], c);
    await s.execute(r, 'ROLLBACK', [], c);
    assert.deepEqual(rows(await s.query(r, 'SELECT count(*) FROM sqlbegin')).rows, [[0n]]);
    r.end();
  });

  test('a COMMIT after a failed statement rolls back and says so (CONFLICT, 25P02)', async () => {
    const s = service();
    const r = request();
    const c = s.newConn();
    await s.call(r, { action: 'begin', conn: c });
    failed(await s.query(r, 'SELECT 1/0', [], c));
    const f = failed(await s.call(r, { action: 'commit', conn: c }));
    assert.deepEqual([f.status, f.sqlstate], ['CONFLICT', '25P02']);
    r.end();
  });

  test('a transaction whose connection is lost fails every statement until the guest rolls back, as SQL too', async () => {
    const s = service();
    const r = request();
    const c = s.newConn();
    await s.execute(r, 'BEGIN', [], c);
    const pid = rows(await s.query(r, 'SELECT pg_backend_pid() AS pid', [], c)).rows[0]![0];
    await server.sql('SELECT pg_terminate_backend($1)', [Number(pid)]);
    assert.equal(failed(await s.query(r, 'SELECT 1', [], c)).status, 'UNAVAILABLE');
    const after = failed(await s.query(r, 'SELECT 1', [], c));
    assert.match(after.message, /the transaction on this connection was rolled back .*; roll back on this connection to go on/);
    assert.deepEqual(await s.execute(r, 'ROLLBACK', [], c), { ok: true, kind: 'affected', rows: 0n });
    assert.deepEqual(rows(await s.query(r, 'SELECT 1 AS one', [], c)).rows, [[1n]]);
    r.end();
  });

  test('a transaction still open when its request ends is rolled back and its connection pooled again', async () => {
    const s = service();
    const setup = request();
    await s.execute(setup, 'CREATE TABLE abandoned (v int)');
    setup.end();
    const r = request();
    const c = s.newConn();
    await s.call(r, { action: 'begin', conn: c });
    await s.execute(r, 'INSERT INTO abandoned VALUES (1)', [], c);
    r.end();
    await until(async () => (await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = 'app' AND state = 'idle in transaction'")).rows[0].n === 0, 'the open transaction ended');
    assert.equal((await server.sql('SELECT count(*)::int AS n FROM abandoned', [], 'app')).rows[0].n, 0);
    assert.equal(s.pool.size.idle, 1, 'the connection went back to the pool');
  });

  test('statement_timeout cancels a slow statement: TIMEOUT with SQLSTATE 57014', async () => {
    const s = service({ limits: { statementTimeoutMs: 200 } });
    const r = request();
    const f = failed(await s.query(r, 'SELECT pg_sleep(5)'));
    assert.deepEqual([f.status, f.sqlstate], ['TIMEOUT', '57014']);
    r.end();
  });

  test('a request that ends while its statement runs cancels it on the server too', async () => {
    const s = service();
    const r = request();
    const started = Date.now();
    const pending = s.query(r, 'SELECT pg_sleep(30)');
    await until(async () => (await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).rows[0].n === 1, 'the statement running');
    r.end();
    assert.equal(failed(await pending).status, 'TIMEOUT');
    await until(async () => (await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).rows[0].n === 0, 'the server stopped it');
    assert.ok(Date.now() - started < 20_000);
  });

  test('a guest changing TimeZone does not carry into the next session: that connection is not pooled again', async () => {
    const s = service();
    const r = request();
    await s.execute(r, "SET TimeZone = 'Asia/Tokyo'");
    assert.deepEqual(rows(await s.query(r, "SELECT '2024-05-01 00:00:00+00'::timestamptz AS t")).rows, [['2024-05-01T00:00:00Z']]);
    assert.deepEqual(rows(await s.query(r, 'SHOW TimeZone')).rows, [['UTC']]);
    r.end();
  });

  test('a database that is down fails with UNAVAILABLE naming it; after 5 failures the breaker answers at once', async () => {
    const down = `postgres://verge:${PG_PASSWORD}@127.0.0.1:1/app`;
    const s = service({ url: down });
    const r = request();
    for (let i = 0; i < 5; i++) {
      const f = failed(await s.query(r, 'SELECT 1'));
      assert.deepEqual([f.status, f.cause], ['UNAVAILABLE', 'connection']);
      assert.match(f.message, /database "main": cannot connect to 127\.0\.0\.1:1: connection refused \(ECONNREFUSED\)/);
      assert.ok(!f.message.includes(PG_PASSWORD));
    }
    const fast = failed(await s.query(r, 'SELECT 1'));
    assert.match(fast.message, /circuit open for database "main" after 5 consecutive failures/);
    assert.ok(breakerStates.includes('open'));
    r.end();
  });

  test('a server that goes away mid-statement fails that statement cleanly, and the pool reconnects once it is back', async () => {
    const s = service();
    const r = request();
    assert.ok(rows(await s.query(r, 'SELECT 1')).rows.length === 1);
    const pending = s.query(r, 'SELECT pg_sleep(30)');
    await until(async () => (await server.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")).rows[0].n === 1, 'the statement running');
    await server.crash();
    const f = failed(await pending);
    assert.equal(f.status, 'UNAVAILABLE');
    await server.start();
    assert.deepEqual(rows(await s.query(r, 'SELECT 41 + 1 AS n')).rows, [[42n]]);
    r.end();
  });

  test('a postgres:// address is served only when allowed_outbound_hosts allows it, and loopback only when named literally', async () => {
    const literal = service({ allowed: [`postgres://127.0.0.1:${server.port}`] });
    const r = request();
    const target = { kind: 'url' as const, url: server.url('app') };
    assert.deepEqual(rows(await literal.call(r, { action: 'query', target, statement: 'SELECT 1 AS one', params: [] })).rows, [[1n]]);
    const other = failed(await literal.call(r, { action: 'query', target: { kind: 'url', url: `postgres://verge@127.0.0.1:${server.port + 1}/app` }, statement: 'SELECT 1', params: [] }));
    assert.equal(other.status, 'ACCESS_DENIED');
    assert.match(other.message, /is not allowed by allowed_outbound_hosts of component api/);
    const wildcard = service({ allowed: ['postgres://*:*'] });
    const loopback = failed(await wildcard.call(r, { action: 'query', target, statement: 'SELECT 1', params: [] }));
    assert.equal(loopback.status, 'ACCESS_DENIED');
    assert.match(loopback.message, /127\.0\.0\.1 is a loopback address; only a host named explicitly/);
    const none = failed(await literal.call(r, { action: 'open', target }, 'other'));
    assert.equal(none.status, 'ACCESS_DENIED');
    r.end();
  });

  test('a database not granted to the component is ACCESS_DENIED, naming it and the grants', async () => {
    const s = service();
    const f = failed(await s.call(request(), { action: 'open' }, 'other'));
    assert.equal(f.status, 'ACCESS_DENIED');
    assert.match(f.message, /database "main" is not granted to component other \(databases = \[\]\)/);
  });

  test('pool_size bounds the connections: a call waits for a free one', async () => {
    const s = service({ limits: { poolSize: 1 } });
    const a = request();
    const b = request();
    const c = s.newConn();
    await s.call(a, { action: 'begin', conn: c });
    const waiting = s.query(b, 'SELECT 2 AS two');
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(s.pool.size.waiting, 1);
    await s.call(a, { action: 'commit', conn: c });
    assert.deepEqual(rows(await waiting).rows, [[2n]]);
    a.end();
    b.end();
  });
});

describe('TLS to PostgreSQL', () => {
  let server: PostgresServer;
  before(async () => {
    server = await startPostgres({ tls: true });
  });
  after(async () => {
    await server?.destroy();
  });

  const tlsQuery = async (host: string, ca: string | undefined) => {
    const pool = new PgPool({
      address: address(`postgres://verge:${PG_PASSWORD}@${host}:${server.port}/postgres?sslmode=verify-full`),
      label: 'database "tls"',
      limits: DEFAULT_DATABASE_LIMITS,
      explicit: true,
      ca,
    });
    const serve = createPgService({ named: new Map([['tls', { pool, limits: DEFAULT_DATABASE_LIMITS }]]), components: new Map([['api', { databases: ['tls'], policy: undefined }]]), urlPool: () => undefined });
    const r = request();
    try {
      return await serve({ action: 'query', conn: 0, target: { kind: 'named', name: 'tls' }, statement: 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()', params: [] }, 'api', r, undefined);
    } finally {
      r.end();
      await pool.close();
    }
  };

  test('sslmode=verify-full connects over TLS, verifying the certificate against the host name or the IP address', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const reply = await tlsQuery(host, server.ca);
      assert.deepEqual(reply, { ok: true, kind: 'rows', columns: [{ name: 'ssl', type: 'bool', kind: 'bool', array: false }], rows: [[true]] }, host);
    }
  });

  test('a certificate no trusted CA signed is refused: UNAVAILABLE, saying why', async () => {
    const reply = await tlsQuery('localhost', undefined);
    assert.equal(reply.ok, false);
    assert.match((reply as PgFailure).message, /database "tls": cannot connect to localhost:\d+: .*self-signed certificate/);
  });
});

async function until(cond: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
