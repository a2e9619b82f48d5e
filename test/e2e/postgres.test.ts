/**
 * PostgreSQL failures end to end, through `verge up` and the WAGI probe: a database that is down
 * when the node starts, a server that dies mid-request, a statement past its request's deadline
 * or its statement_timeout. Each fails only its own call, clearly, and the node serves the next
 * request once the database is back. (The behaviour cases both interfaces share are in
 * capability-cases.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { freePort, PG_PASSWORD, startPostgres, type PostgresServer } from '../support/postgres.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

const APP_TOML = (port: number) => `[variables]
pg_password = { required = true, secret = true }

[databases.main]
url = "postgres://verge:{{ pg_password }}@127.0.0.1:${port}/postgres"

[databases.slow]
url = "postgres://verge:{{ pg_password }}@127.0.0.1:${port}/postgres"
statement_timeout_ms = 300`;

describe('PostgreSQL failures through verge up', () => {
  let port: number;
  let pg: PostgresServer | undefined;
  let node: VergeProcess;

  const call = async (component: 'api' | 'short', db: string, sql: string) => {
    const started = Date.now();
    const res = await fetch(`${node.url}/${component}/pg-query?${new URLSearchParams({ db, sql })}`);
    return { status: res.status, body: (await res.json()) as { value?: unknown; error?: string; sqlstate?: string }, ms: Date.now() - started, id: res.headers.get('x-request-id') };
  };
  const logged = (text: string) => node.logs().some((l) => JSON.stringify(l).includes(text));
  const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    port = await freePort();
    const wasm = buildCapabilityProbe();
    const grants = 'databases = ["main", "slow"]';
    const dir = writeApp('pg-failures', { api: { route: '/api/...', wasm, extra: grants, limits: 'timeout_ms = 15000' }, short: { route: '/short/...', wasm, extra: grants, limits: 'timeout_ms = 1500' } }, APP_TOML(port));
    // The database is down: the node starts anyway.
    node = await startVerge(dir, ['--workers', '2'], { env: { VERGE_VAR_PG_PASSWORD: PG_PASSWORD } });
  });

  after(async () => {
    await node?.stop();
    await pg?.destroy();
  });

  test('a database down at start fails each call with UNAVAILABLE naming it; after 5 the breaker answers at once; once it is up the node serves', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await call('api', 'main', 'SELECT 1 AS one');
      assert.deepEqual([r.status, r.body.error], [500, 'UNAVAILABLE']);
    }
    await until(() => logged(`database \\"main\\": cannot connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED)`), 'the refusal logged, naming the database');
    const fast = await call('api', 'main', 'SELECT 1 AS one');
    assert.equal(fast.body.error, 'UNAVAILABLE');
    await until(() => logged('circuit open for database \\"main\\" after 5 consecutive failures'), 'the open circuit logged on the call');
    assert.ok(logged('database circuit breaker open'), 'the transition is logged by the node');
    pg = await startPostgres({ port });
    // The circuit lets one trial call through after its 5 s cooldown.
    await until(async () => (await call('api', 'main', 'SELECT 1 AS one')).status === 200, 'a call served once the database is up', 20_000);
    assert.deepEqual((await call('api', 'main', 'SELECT 41 + 1 AS n')).body, { value: { columns: ['n'], rows: [[42]] } });
    assert.ok(!node.stdout().includes(PG_PASSWORD) && !node.stderr().includes(PG_PASSWORD), 'the password never reaches the log');
  });

  test('a server that dies mid-request fails that request cleanly, and the next request after its restart is served', async () => {
    assert.ok(pg, 'the database from the test before');
    const pending = call('api', 'main', 'SELECT pg_sleep(30)');
    await until(async () => (await pg!.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'")).rows[0].n === 1, 'the statement running');
    await pg.crash();
    const r = await pending;
    assert.equal(r.status, 500);
    assert.ok(r.body.error === 'UNAVAILABLE' || r.body.sqlstate?.startsWith('57P'), `a connection failure, got ${JSON.stringify(r.body)}`);
    assert.ok(r.ms < 10_000, 'it failed at once, not at its deadline');
    await pg.start();
    assert.deepEqual((await call('api', 'main', 'SELECT 2 AS two')).body, { value: { columns: ['two'], rows: [[2]] } });
  });

  test("a statement past its request's deadline: 504 at the deadline, the statement is cancelled on the server, and the node serves on", async () => {
    const r = await call('short', 'main', 'SELECT pg_sleep(30)');
    assert.deepEqual([r.status, r.body.error], [504, 'DEADLINE_EXCEEDED']);
    assert.ok(r.ms < 10_000);
    await until(async () => (await pg!.sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)' AND state = 'active'")).rows[0].n === 0, 'the server stopped the statement');
    assert.equal((await call('short', 'main', 'SELECT 3 AS three')).status, 200);
  });

  test('statement_timeout_ms: PostgreSQL cancels a slow statement and the guest answers in time (SQLSTATE 57014)', async () => {
    const r = await call('api', 'slow', 'SELECT pg_sleep(5)');
    assert.deepEqual(r.body, { error: 'QUERY_FAILED', sqlstate: '57014' });
    assert.ok(r.ms < 4000, `answered after ${r.ms} ms`);
  });
});
