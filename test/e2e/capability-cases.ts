/**
 * One list of capability cases that both guest interfaces must pass with the same outcomes (as
 * Hono's routers share common.case.test.ts): capabilities-wagi.test.ts runs it through a WAGI
 * guest (verge:v1), capabilities-component.test.ts through a wasi:http component (wasi:*).
 * Both probes answer 200 {"value": ...} or 500 {"error": "<verge:v1 status name>"}.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { PG_PASSWORD, startPostgres, type PostgresServer } from '../support/postgres.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';

/** The components every run declares, each the same probe with different grants; a case picks one. */
export const GRANT_SETS = {
  kv: 'key_value_stores = ["default", "cache", "rkv"]',
  'kv-cache-only': 'key_value_stores = ["cache"]',
  vars: 'variables = ["greeting", "api_key", "unset"]',
  none: '',
  outbound: 'allowed_outbound_hosts = ["http://127.0.0.1:*"]',
  'outbound-any-host': 'allowed_outbound_hosts = ["http://*:*"]',
  pg: 'databases = ["main"]',
  'pg-address': 'allowed_outbound_hosts = ["postgres://127.0.0.1:*"]',
  'pg-any-host': 'allowed_outbound_hosts = ["postgres://*:*"]',
  // {redis} is the test Redis server's port, filled in when the app is written.
  redis: 'redis = ["main", "down"]',
  'redis-address': 'allowed_outbound_hosts = ["redis://127.0.0.1:{redis}"]',
  'redis-any-host': 'allowed_outbound_hosts = ["redis://*:*"]',
} as const;
export type GrantSet = keyof typeof GRANT_SETS;

export const SECRET = 'sk-live-0123456789abcdef';
/** The database `main`'s password comes from a secret variable; `{port}` is the test server's. */
const APP_TOML = `[key_value_stores.cache]\nbackend = "memory"\n\n[variables]\ngreeting = { default = "hello" }\napi_key = { required = true, secret = true }\nunset = { default = "" }\npg_password = { required = true, secret = true }\n\n[databases.main]\nurl = "postgres://verge:{{ pg_password }}@127.0.0.1:{port}/caps"\nmax_rows = 100`;
/** A role whose password the guest itself puts in the address it opens (Spin's way). */
const GUEST_ROLE = { user: 'guest', password: 'guest-pw' };
/** A real Redis server ({redis}) behind a store and a named connection, and a named connection to a port nothing listens on ({down}). */
const REDIS_TOML = `[key_value_stores.rkv]\nbackend = "redis"\nurl = "redis://127.0.0.1:{redis}/1"\n\n[redis.main]\nurl = "redis://127.0.0.1:{redis}"\n\n[redis.down]\nurl = "redis://127.0.0.1:{down}"`;

export interface Step {
  op: string;
  /**
   * `{origin}` in a value is replaced by the test origin's URL, `{pg}` by a postgres:// address of
   * the test database, `{redis}` by the test Redis server's port and `{down}` by a port nothing listens on.
   */
  query?: Record<string, string | number>;
  expect: { status: number; value?: unknown; error?: string; sqlstate?: string };
  /** A log record of this request must contain this text (a host refusal, a truncation notice). */
  log?: string;
  /** How many `guest` records this request may log at most. */
  maxGuestRecords?: number;
}

export interface CapabilityCase {
  name: string;
  grants: GrantSet;
  steps: Step[];
}

const MiB = 1024 * 1024;
const ok = (value: unknown) => ({ status: 200, value });
const refused = (error: string) => ({ status: 500, error });
const fetchFailed = { status: 502, error: 'FETCH_FAILED' };

/** KV cases run against every backend: SQLite in the worker, memory and Redis on the main thread (and NATS: nats-kv.test.ts). */
export const kvCases = (store: string): CapabilityCase[] => [
  {
    name: `kv (${store}): a value set is read back; a missing key reads as null; delete and exists agree`,
    grants: 'kv',
    steps: [
      { op: 'kv-set', query: { store, key: 'greeting', value: 'hi there' }, expect: ok(true) },
      { op: 'kv-get', query: { store, key: 'greeting' }, expect: ok('hi there') },
      { op: 'kv-exists', query: { store, key: 'greeting' }, expect: ok(true) },
      { op: 'kv-delete', query: { store, key: 'greeting' }, expect: ok(true) },
      { op: 'kv-exists', query: { store, key: 'greeting' }, expect: ok(false) },
      { op: 'kv-get', query: { store, key: 'never-set' }, expect: ok(null) },
    ],
  },
  {
    name: `kv (${store}): an empty key is INVALID_ARGUMENT`,
    grants: 'kv',
    steps: [
      { op: 'kv-set', query: { store, key: '', value: 'x' }, expect: refused('INVALID_ARGUMENT'), log: 'the key is empty' },
      { op: 'kv-get', query: { store, key: '' }, expect: refused('INVALID_ARGUMENT') },
    ],
  },
  {
    name: `kv (${store}): a key over 512 bytes is LIMIT_EXCEEDED, naming the limit; 512 bytes is accepted`,
    grants: 'kv',
    steps: [
      { op: 'kv-set', query: { store, key_bytes: 4096, value: 'x' }, expect: refused('LIMIT_EXCEEDED'), log: 'a key may be at most 512 bytes' },
      { op: 'kv-get', query: { store, key_bytes: 513 }, expect: refused('LIMIT_EXCEEDED') },
      { op: 'kv-set', query: { store, key_bytes: 512, value: 'x' }, expect: ok(true) },
    ],
  },
  {
    name: `kv (${store}): a value over 1 MiB is LIMIT_EXCEEDED, naming the limit; 1 MiB is accepted`,
    grants: 'kv',
    steps: [
      { op: 'kv-set', query: { store, key: 'big', value_bytes: 3 * MiB }, expect: refused('LIMIT_EXCEEDED'), log: 'a value may be at most 1048576 bytes' },
      { op: 'kv-set', query: { store, key: 'big', value_bytes: MiB + 1 }, expect: refused('LIMIT_EXCEEDED') },
      { op: 'kv-set', query: { store, key: 'big', value_bytes: MiB }, expect: ok(true) },
    ],
  },
  {
    name: `kv (${store}): increment adds to a missing key from 0, and refuses a value that is not a number`,
    grants: 'kv',
    steps: [
      { op: 'kv-incr', query: { store, key: 'counter', by: 5 }, expect: ok(5) },
      { op: 'kv-incr', query: { store, key: 'counter', by: 37 }, expect: ok(42) },
      { op: 'kv-get', query: { store, key: 'counter' }, expect: ok('42') },
      { op: 'kv-set', query: { store, key: 'word', value: 'abc' }, expect: ok(true) },
      { op: 'kv-incr', query: { store, key: 'word' }, expect: refused('NOT_A_NUMBER') },
    ],
  },
  {
    name: `kv (${store}): compare-and-swap succeeds from the value read, and conflicts after a write in between`,
    grants: 'kv',
    steps: [
      { op: 'kv-cas', query: { store, key: 'cas', value: 'first' }, expect: ok(true) },
      { op: 'kv-cas', query: { store, key: 'cas', value: 'second' }, expect: ok(true) },
      { op: 'kv-get', query: { store, key: 'cas' }, expect: ok('second') },
      { op: 'kv-cas-race', query: { store, key: 'cas', value: 'lost' }, expect: refused('CONFLICT') },
      { op: 'kv-get', query: { store, key: 'cas' }, expect: ok('intruder') },
    ],
  },
];

/**
 * PostgreSQL: `db` is a database name or a postgres:// address; parameters are `p1`, `p2`, ...
 * as `type:value` (i int, l bigint, f float, b bool, t text, d numeric, x hex bytes, n NULL).
 * A failure PostgreSQL reported answers {"error": "QUERY_FAILED", "sqlstate": ...} through
 * both interfaces (spin:postgres has no verge:v1 status for it).
 */
const queryFailed = (sqlstate: string) => ({ status: 500, error: 'QUERY_FAILED', sqlstate });
const pgCases: CapabilityCase[] = [
  {
    name: 'postgres: a query through a granted database returns its columns and typed rows',
    grants: 'pg',
    steps: [
      {
        op: 'pg-query',
        query: {
          db: 'main',
          sql: "SELECT $1::int4 AS i, $2::int8 AS big, $3::text AS t, $4::bool AS b, $5::float8 AS f, $6::numeric AS n, NULL::text AS nothing, $7::bytea AS raw, '{1,NULL,3}'::int4[] AS ints, ARRAY['a', NULL]::text[] AS tags, '{\"k\": [1]}'::jsonb AS doc",
          p1: 'i:42',
          p2: 'l:9000000000',
          p3: 't:héllo "quoted"',
          p4: 'b:true',
          p5: 'f:1.5',
          p6: 'd:12.50',
          p7: 'x:00ff41',
        },
        expect: ok({
          columns: ['i', 'big', 't', 'b', 'f', 'n', 'nothing', 'raw', 'ints', 'tags', 'doc'],
          rows: [[42, 9000000000, 'héllo "quoted"', true, 1.5, '12.50', null, '\\x00ff41', [1, null, 3], ['a', null], '{"k": [1]}']],
        }),
      },
    ],
  },
  {
    name: 'postgres: execute returns the rows it affected, and a query reads them back',
    grants: 'pg',
    steps: [
      { op: 'pg-execute', query: { db: 'main', sql: "INSERT INTO items (v) SELECT 'n' || g FROM generate_series(1, $1::int) AS g", p1: 'i:3' }, expect: ok(3) },
      { op: 'pg-execute', query: { db: 'main', sql: "UPDATE items SET v = v || '!' WHERE v LIKE 'n%'" }, expect: ok(3) },
      { op: 'pg-query', query: { db: 'main', sql: "SELECT v FROM items WHERE v LIKE 'n%' ORDER BY v" }, expect: ok({ columns: ['v'], rows: [['n1!'], ['n2!'], ['n3!']] }) },
    ],
  },
  {
    name: 'postgres: SQL injection attempts through parameters are stored as data and run nothing',
    grants: 'pg',
    steps: [
      { op: 'pg-execute', query: { db: 'main', sql: 'INSERT INTO items (v) VALUES ($1)', p1: "t:x'); DROP TABLE items; --" }, expect: ok(1) },
      { op: 'pg-query', query: { db: 'main', sql: 'SELECT v FROM items WHERE v = $1', p1: "t:x'); DROP TABLE items; --" }, expect: ok({ columns: ['v'], rows: [["x'); DROP TABLE items; --"]] }) },
      { op: 'pg-query', query: { db: 'main', sql: 'SELECT count(*) > 0 AS still FROM items WHERE v = $1', p1: "t:' OR '1'='1" }, expect: ok({ columns: ['still'], rows: [[false]] }) },
    ],
  },
  {
    name: 'postgres: a statement PostgreSQL refuses fails with its SQLSTATE (a duplicate key, a syntax error, two statements in one)',
    grants: 'pg',
    steps: [
      { op: 'pg-execute', query: { db: 'main', sql: 'INSERT INTO items (v) VALUES ($1)', p1: 't:unique-1' }, expect: ok(1) },
      { op: 'pg-execute', query: { db: 'main', sql: 'INSERT INTO items (v) VALUES ($1)', p1: 't:unique-1' }, expect: queryFailed('23505') },
      { op: 'pg-query', query: { db: 'main', sql: 'SELEC 1' }, expect: queryFailed('42601') },
      { op: 'pg-execute', query: { db: 'main', sql: 'SELECT 1; DROP TABLE items' }, expect: queryFailed('42601') },
    ],
  },
  {
    name: 'postgres: a result over max_rows is LIMIT_EXCEEDED, and the log states the cap',
    grants: 'pg',
    steps: [
      { op: 'pg-query', query: { db: 'main', sql: 'SELECT generate_series(1, 100000)' }, expect: refused('LIMIT_EXCEEDED'), log: 'the result has more than 100 rows (the max_rows limit)' },
      { op: 'pg-query', query: { db: 'main', sql: 'SELECT 1 AS one' }, expect: ok({ columns: ['one'], rows: [[1]] }) },
    ],
  },
  {
    name: 'postgres: a transaction rolled back leaves nothing, a committed one stays, and one left open is rolled back when its request ends',
    grants: 'pg',
    steps: [
      { op: 'pg-tx', query: { db: 'main', mode: 'rollback', p1: 't:rolled back' }, expect: ok(true) },
      { op: 'pg-tx', query: { db: 'main', mode: 'commit', p1: 't:committed' }, expect: ok(true) },
      { op: 'pg-tx', query: { db: 'main', mode: 'open', p1: 't:left open' }, expect: ok(true) },
      { op: 'pg-query', query: { db: 'main', sql: 'SELECT v FROM ledger ORDER BY v' }, expect: ok({ columns: ['v'], rows: [['committed']] }) },
    ],
  },
  {
    name: 'postgres: a database not granted is ACCESS_DENIED, naming it and the grants',
    grants: 'none',
    steps: [{ op: 'pg-query', query: { db: 'main', sql: 'SELECT 1' }, expect: refused('ACCESS_DENIED'), log: 'database "main" is not granted to component none (databases = [])' }],
  },
  {
    name: 'postgres: a postgres:// address that allowed_outbound_hosts allows is served',
    grants: 'pg-address',
    steps: [{ op: 'pg-query', query: { db: '{pg}', sql: 'SELECT current_user AS who' }, expect: ok({ columns: ['who'], rows: [[GUEST_ROLE.user]] }) }],
  },
  {
    name: 'postgres: an address outside allowed_outbound_hosts is refused',
    grants: 'pg-address',
    steps: [{ op: 'pg-query', query: { db: 'postgres://guest@127.0.0.2:5432/caps', sql: 'SELECT 1' }, expect: refused('ACCESS_DENIED'), log: 'is not allowed by allowed_outbound_hosts' }],
  },
  {
    name: 'postgres: loopback under a wildcard host is refused (SSRF), as for HTTP',
    grants: 'pg-any-host',
    steps: [{ op: 'pg-query', query: { db: '{pg}', sql: 'SELECT 1' }, expect: refused('ACCESS_DENIED'), log: 'loopback' }],
  },
];

const redisAt = (port = '{redis}') => `redis://127.0.0.1:${port}`;

/** Redis through verge:v1 redis_* and Spin's fermyon:spin/redis, against a real server. */
const redisCases: CapabilityCase[] = [
  {
    name: 'redis: a named connection sets, gets, counts and deletes; a missing key reads as null',
    grants: 'redis',
    steps: [
      { op: 'redis-set', query: { target: 'main', key: 'greeting', value: 'hi there' }, expect: ok(true) },
      { op: 'redis-get', query: { target: 'main', key: 'greeting' }, expect: ok('hi there') },
      { op: 'redis-incr', query: { target: 'main', key: 'visits' }, expect: ok(1) },
      { op: 'redis-incr', query: { target: 'main', key: 'visits' }, expect: ok(2) },
      { op: 'redis-del', query: { target: 'main', key: 'greeting', value: 'visits,never-set' }, expect: ok(2) },
      { op: 'redis-get', query: { target: 'main', key: 'greeting' }, expect: ok(null) },
    ],
  },
  {
    name: 'redis: sets add, list and remove members, counting only real changes',
    grants: 'redis',
    steps: [
      { op: 'redis-sadd', query: { target: 'main', key: 'tags', value: 'red,green,red' }, expect: ok(2) },
      { op: 'redis-sadd', query: { target: 'main', key: 'tags', value: 'blue,green' }, expect: ok(1) },
      { op: 'redis-smembers', query: { target: 'main', key: 'tags' }, expect: ok(['blue', 'green', 'red']) },
      { op: 'redis-srem', query: { target: 'main', key: 'tags', value: 'green,purple' }, expect: ok(1) },
      { op: 'redis-smembers', query: { target: 'main', key: 'tags' }, expect: ok(['blue', 'red']) },
    ],
  },
  {
    name: 'redis: execute runs an allowed command and returns its reply flattened: statuses, integers, nil, bulk strings',
    grants: 'redis',
    steps: [
      { op: 'redis-exec', query: { target: 'main', cmd: 'set', args: 'session,abc,EX,100' }, expect: ok(['+OK']) },
      { op: 'redis-exec', query: { target: 'main', cmd: 'EXPIRE', args: 'session,200' }, expect: ok([1]) },
      { op: 'redis-exec', query: { target: 'main', cmd: 'HSET', args: 'user:1,name,ada,lang,en' }, expect: ok([2]) },
      { op: 'redis-exec', query: { target: 'main', cmd: 'HGETALL', args: 'user:1' }, expect: ok(['name', 'ada', 'lang', 'en']) },
      { op: 'redis-exec', query: { target: 'main', cmd: 'MGET', args: 'session,nothing-here' }, expect: ok(['abc', null]) },
      { op: 'redis-exec', query: { target: 'main', cmd: 'PUBLISH', args: 'news,hello' }, expect: ok([0]) },
    ],
  },
  {
    name: 'redis: a forbidden command is ACCESS_DENIED naming it and why, and never reaches the server',
    grants: 'redis',
    steps: [
      { op: 'redis-exec', query: { target: 'main', cmd: 'FLUSHALL' }, expect: refused('ACCESS_DENIED'), log: 'Redis command FLUSHALL is not allowed: it wipes every database' },
      { op: 'redis-exec', query: { target: 'main', cmd: 'config', args: 'SET,requirepass,x' }, expect: refused('ACCESS_DENIED'), log: 'Redis command CONFIG is not allowed' },
      { op: 'redis-exec', query: { target: 'main', cmd: 'KEYS', args: '*' }, expect: refused('ACCESS_DENIED') },
      { op: 'redis-exec', query: { target: 'main', cmd: 'EVAL', args: 'return 1,0' }, expect: refused('ACCESS_DENIED') },
      { op: 'redis-exec', query: { target: 'main', cmd: 'PING' }, expect: ok(['+PONG']) },
    ],
  },
  {
    name: 'redis: incr of a value that is not a number is NOT_A_NUMBER; a syntax error is INVALID_ARGUMENT',
    grants: 'redis',
    steps: [
      { op: 'redis-set', query: { target: 'main', key: 'word', value: 'abc' }, expect: ok(true) },
      { op: 'redis-incr', query: { target: 'main', key: 'word' }, expect: refused('NOT_A_NUMBER') },
      { op: 'redis-exec', query: { target: 'main', cmd: 'SET', args: 'k,v,NOT-AN-OPTION' }, expect: refused('INVALID_ARGUMENT'), log: 'syntax error' },
    ],
  },
  {
    name: 'redis: a reply over the 10 MiB cap is LIMIT_EXCEEDED, and the next call is served',
    grants: 'redis',
    steps: [
      { op: 'redis-exec', query: { target: 'main', cmd: 'SETRANGE', args: `huge,${11 * MiB},x` }, expect: ok([11 * MiB + 1]) },
      { op: 'redis-get', query: { target: 'main', key: 'huge' }, expect: refused('LIMIT_EXCEEDED'), log: 'the reply cap' },
      { op: 'redis-exec', query: { target: 'main', cmd: 'STRLEN', args: 'huge' }, expect: ok([11 * MiB + 1]) },
    ],
  },
  {
    name: 'redis: more than 64 connections in one request is LIMIT_EXCEEDED',
    grants: 'redis',
    steps: [{ op: 'redis-get', query: { target: 'main', key: 'k', times: 65 }, expect: refused('LIMIT_EXCEEDED'), log: 'at most 64 Redis connections' }],
  },
  {
    name: 'redis: a connection not granted is ACCESS_DENIED, naming it and the grants',
    grants: 'none',
    steps: [{ op: 'redis-get', query: { target: 'main', key: 'k' }, expect: refused('ACCESS_DENIED'), log: 'redis connection "main" is not granted to component none (redis = [])' }],
  },
  {
    name: 'redis: an address allowed by allowed_outbound_hosts opens like a name',
    grants: 'redis-address',
    steps: [
      { op: 'redis-set', query: { target: redisAt(), key: 'by-address', value: 'yes' }, expect: ok(true) },
      { op: 'redis-get', query: { target: redisAt(), key: 'by-address' }, expect: ok('yes') },
    ],
  },
  {
    name: 'redis: an address outside allowed_outbound_hosts, or a component without them, is refused',
    grants: 'redis-address',
    steps: [
      { op: 'redis-open', query: { target: redisAt('{down}') }, expect: refused('ACCESS_DENIED'), log: 'is not allowed by allowed_outbound_hosts' },
      { op: 'redis-open', query: { target: 'redis://127.0.0.1' }, expect: refused('ACCESS_DENIED') },
      { op: 'redis-open', query: { target: 'main' }, expect: refused('ACCESS_DENIED') },
      { op: 'redis-open', query: { target: 'redis://127.0.0.1:{redis}/x' }, expect: refused('INVALID_ARGUMENT') },
    ],
  },
  {
    name: 'redis: loopback under a wildcard host is refused (SSRF)',
    grants: 'redis-any-host',
    steps: [{ op: 'redis-open', query: { target: redisAt() }, expect: refused('ACCESS_DENIED'), log: 'loopback' }],
  },
  {
    name: 'redis: a component without allowed_outbound_hosts cannot open an address',
    grants: 'none',
    steps: [{ op: 'redis-open', query: { target: redisAt() }, expect: refused('ACCESS_DENIED'), log: 'component none has no allowed_outbound_hosts' }],
  },
  {
    name: 'redis: a server that is down is UNAVAILABLE at open with a clear error, and after 5 failures the breaker answers at once',
    grants: 'redis',
    steps: [
      ...Array.from({ length: 5 }, (): Step => ({ op: 'redis-open', query: { target: 'down' }, expect: refused('UNAVAILABLE'), log: 'connection refused (ECONNREFUSED)' })),
      { op: 'redis-open', query: { target: 'down' }, expect: refused('UNAVAILABLE'), log: 'circuit open for Redis server redis://127.0.0.1:' },
      // Another server's pool is not affected.
      { op: 'redis-get', query: { target: 'main', key: 'k' }, expect: ok(null) },
    ],
  },
];

export const CAPABILITY_CASES: CapabilityCase[] = [
  ...kvCases('default'),
  ...kvCases('cache'),
  ...kvCases('rkv'),
  ...redisCases,
  {
    name: 'kv: a store not granted is ACCESS_DENIED, naming the store and the grants',
    grants: 'kv-cache-only',
    steps: [{ op: 'kv-get', query: { store: 'default', key: 'a' }, expect: refused('ACCESS_DENIED'), log: 'store "default" is not granted to component kv-cache-only' }],
  },
  {
    name: 'kv: a component without stores is denied every store',
    grants: 'none',
    steps: [{ op: 'kv-set', query: { store: 'default', key: 'a', value: 'b' }, expect: refused('ACCESS_DENIED') }],
  },
  {
    name: 'variables: a granted variable and a secret are read; an empty one reads as empty',
    grants: 'vars',
    steps: [
      { op: 'var', query: { name: 'greeting' }, expect: ok('hello') },
      { op: 'var', query: { name: 'api_key' }, expect: ok(SECRET) },
      { op: 'var', query: { name: 'unset' }, expect: ok('') },
    ],
  },
  {
    name: 'variables: a variable not granted is ACCESS_DENIED, and the secret never reaches the log',
    grants: 'none',
    steps: [{ op: 'var', query: { name: 'api_key' }, expect: refused('ACCESS_DENIED'), log: 'variable "api_key" is not granted to component none' }],
  },
  {
    name: 'logging: 200 records per request are kept, then one truncation notice',
    grants: 'none',
    steps: [{ op: 'log-many', query: { msg: 'again and again', times: 500 }, expect: ok('logged'), log: 'log truncated', maxGuestRecords: 200 }],
  },
  {
    name: 'outbound: an allowed origin answers through the guest',
    grants: 'outbound',
    steps: [{ op: 'fetch-case', query: { url: '{origin}/data' }, expect: ok('200 origin saw GET /data') }],
  },
  {
    name: 'outbound: a component without allowed_outbound_hosts is refused and the origin sees nothing',
    grants: 'none',
    steps: [{ op: 'fetch-case', query: { url: '{origin}/data' }, expect: fetchFailed, log: 'component none has no allowed_outbound_hosts' }],
  },
  {
    name: 'outbound: a host outside allowed_outbound_hosts is refused',
    grants: 'outbound',
    steps: [{ op: 'fetch-case', query: { url: 'http://127.0.0.2:9/x' }, expect: fetchFailed, log: 'is not allowed by allowed_outbound_hosts' }],
  },
  {
    name: 'outbound: loopback under a wildcard host is refused (SSRF)',
    grants: 'outbound-any-host',
    steps: [{ op: 'fetch-case', query: { url: '{origin}/data' }, expect: fetchFailed, log: 'loopback' }],
  },
  ...pgCases,
];

/**
 * Runs every case against `verge up` serving `probe` once per grant set (route /<set>/...).
 * `interfaceName` names the suite; the expectations are the same for both interfaces.
 */
export function runCapabilityCases(interfaceName: string, probe: () => Promise<Uint8Array>): void {
  describe(`capability cases through ${interfaceName}`, () => {
    let node: VergeProcess;
    let origin: http.Server;
    let originUrl = '';
    let originHits = 0;
    let pg: PostgresServer;
    let pgAddress = '';
    let redis: RedisServer;
    let downPort = '';
    const ports = (text: string) => text.replaceAll('{redis}', String(redis.port)).replaceAll('{down}', downPort);

    before(async () => {
      pg = await startPostgres();
      await pg.sql('CREATE DATABASE caps');
      await pg.sql(`CREATE ROLE ${GUEST_ROLE.user} LOGIN PASSWORD '${GUEST_ROLE.password}'`);
      await pg.sql(`CREATE TABLE items (id serial PRIMARY KEY, v text UNIQUE); CREATE TABLE ledger (v text); GRANT SELECT ON items TO ${GUEST_ROLE.user}`, [], 'caps');
      pgAddress = `postgres://${GUEST_ROLE.user}:${GUEST_ROLE.password}@127.0.0.1:${pg.port}/caps`;
      redis = await startRedis();
      // A port nothing listens on: a server started and stopped again.
      const gone = await startRedis();
      downPort = String(gone.port);
      await gone.stop();
      origin = http.createServer((req, res) => {
        originHits++;
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`origin saw ${req.method} ${req.url}`);
      });
      await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
      originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
      const wasm = await probe();
      const components = Object.fromEntries(
        Object.entries(GRANT_SETS).map(([set, extra]) => [set, { route: `/${set}/...`, wasm, extra: ports(extra), limits: 'timeout_ms = 10000' }]),
      );
      node = await startVerge(writeApp('caps', components, `${APP_TOML.replace('{port}', String(pg.port))}\n\n${ports(REDIS_TOML)}`), ['--workers', '2'], {
        env: { VERGE_VAR_API_KEY: SECRET, VERGE_VAR_PG_PASSWORD: PG_PASSWORD },
        // A component probe not transpiled yet (a changed fixture, a fresh machine) takes ~15 s of that here.
        readyMs: 60_000,
      });
    });

    after(async () => {
      await node?.stop();
      origin?.close();
      await pg?.destroy();
      await redis?.stop();
    });

    for (const c of CAPABILITY_CASES) {
      test(c.name, async () => {
        for (const step of c.steps) {
          const query = new URLSearchParams(Object.entries(step.query ?? {}).map(([k, v]): [string, string] => [k, ports(String(v).replace('{origin}', originUrl).replace('{pg}', pgAddress))]));
          const hitsBefore = originHits;
          const res = await fetch(`${node.url}/${c.grants}/${step.op}?${query}`);
          const body = (await res.json()) as { value?: unknown; error?: string; sqlstate?: string };
          const where = `${step.op}?${query.toString().slice(0, 120)}`;
          assert.deepEqual({ status: res.status, ...body }, step.expect, where);
          if (step.expect.error === 'FETCH_FAILED') assert.equal(originHits, hitsBefore, `${where}: the origin received nothing`);
          const id = res.headers.get('x-request-id');
          if (step.log) await waitFor(() => node.logs().some((l) => l.request_id === id && String(l.line).includes(ports(step.log!))), `${where}: a log line with ${JSON.stringify(step.log)}`);
          if (step.maxGuestRecords !== undefined) {
            const records = node.logs().filter((l) => l.request_id === id && l.stream === 'guest').length;
            assert.equal(records, step.maxGuestRecords, `${where}: guest log records`);
          }
        }
        for (const secret of [SECRET, PG_PASSWORD]) assert.ok(!node.stdout().includes(secret) && !node.stderr().includes(secret), 'a secret value never reaches the log');
      });
    }
  });
}

/** One probe request: its status, the probe's JSON answer and the request id. */
export async function probeCall(node: VergeProcess, route: string, op: string, query: Record<string, string | number>): Promise<{ status: number; id: string | null } & Record<string, unknown>> {
  const q = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  const res = await fetch(`${node.url}/${route}/${op}?${q}`);
  return { status: res.status, ...((await res.json()) as object), id: res.headers.get('x-request-id') };
}

/** A case's steps against one probe route of a node (for a store backend the main run does not cover). */
export async function runSteps(node: VergeProcess, route: string, steps: readonly Step[]): Promise<void> {
  for (const step of steps) {
    const { id, ...got } = await probeCall(node, route, step.op, step.query ?? {});
    const where = `${step.op} ${JSON.stringify(step.query).slice(0, 120)}`;
    assert.deepEqual(got, step.expect, where);
    if (step.log) await waitFor(() => node.logs().some((l) => l.request_id === id && String(l.line).includes(step.log!)), `${where}: a log line with ${JSON.stringify(step.log)}`);
  }
}

async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`not seen in ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
