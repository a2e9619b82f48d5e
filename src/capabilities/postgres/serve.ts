/**
 * The main thread's side of the PostgreSQL capability for one app version: which pool a call
 * goes to (a named database granted to the component, or a postgres:// address its
 * allowed_outbound_hosts allows), and each request's sessions.
 *
 * A guest's connection is a session: a statement borrows a pooled connection and gives it back,
 * unless it leaves a transaction open (BEGIN, through pg_begin or as SQL) — then the pooled
 * connection stays with that guest connection until COMMIT or ROLLBACK, so the transaction's
 * statements all run on it. When the request ends, every transaction it left open is rolled
 * back and its connection returned. A connection lost inside a transaction leaves the guest's
 * connection failing (UNAVAILABLE) until it rolls back: its statements never silently run
 * outside the transaction they were written for.
 */
import { HostCallError } from '../abi.js';
import { StoreError } from '../../backends/store.js';
import type { OutboundPolicy } from '../outbound-http/policy.js';
import type { RequestContext } from '../capability.js';
import { connectionFailure, refused } from './errors.js';
import { DEFAULT_DATABASE_LIMITS, PG_LIMITS, type PgDatabaseLimits } from './limits.js';
import type { PgConnection, PgPool, PgPoolOptions } from './pool.js';
import { runStatement, StatementError, type StatementOutcome } from './statement.js';
import type { PgCall, PgFailure, PgParam, PgReply, PgTarget } from './types.js';
import { parsePgUrl, type PgAddress } from './url.js';
import { toWire } from './values.js';

export interface NamedDatabase {
  pool: PgPool;
  limits: PgDatabaseLimits;
}

export interface PgVersionState {
  /** `[databases.NAME]`, resolved: their pools. */
  named: ReadonlyMap<string, NamedDatabase>;
  /** Per component: the databases it is granted and its allow-list for postgres:// addresses. */
  components: ReadonlyMap<string, { databases: readonly string[]; policy: OutboundPolicy | undefined }>;
  /** The app's pool for an address a guest names, shared by its versions; undefined past the per-app cap. */
  urlPool(key: string, make: () => PgPoolOptions): PgPool | undefined;
}

interface Route {
  pool: PgPool;
  limits: PgDatabaseLimits;
}

type Session = { pool: PgPool; conn: PgConnection } | { pool: PgPool; lost: string };

const ROLLBACK = /^\s*(ROLLBACK|ABORT)\s*;?\s*$/i;

/** One request's sessions in a transaction, by the guest's connection id. */
class Sessions {
  readonly open = new Map<number, Session>();
  private ended = false;

  constructor(signal: AbortSignal, deadlineAt: number | undefined) {
    signal.addEventListener('abort', () => void this.end(), { once: true });
    // A call that reaches the main thread after its request ended would otherwise pin a connection forever.
    if (deadlineAt !== undefined) setTimeout(() => void this.end(), Math.max(0, deadlineAt - Date.now()) + 5000).unref();
  }

  /** Rolls back what is still open and gives the connections back. */
  async end(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    const sessions = [...this.open.values()];
    this.open.clear();
    await Promise.all(sessions.map((s) => ('conn' in s ? rollbackAndRelease(s.pool, s.conn) : undefined)));
  }

  get isEnded(): boolean {
    return this.ended;
  }
}

async function rollbackAndRelease(pool: PgPool, conn: PgConnection): Promise<void> {
  if (conn.dead) return pool.release(conn, false);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 2000);
  try {
    await runStatement(conn, 'ROLLBACK', [], 'execute', { maxRows: 0, maxResultBytes: 0, statementTimeoutMs: 2000 }, controller.signal, pool.opts.address.port);
    pool.release(conn, conn.client.getTransactionStatus() === 'I');
  } catch {
    pool.release(conn, false);
  } finally {
    clearTimeout(timer);
  }
}

export function createPgService(state: PgVersionState) {
  const route = (target: PgTarget, component: string): Route | PgFailure => {
    const c = state.components.get(component);
    if (target.kind === 'named') {
      if (!c?.databases.includes(target.name)) {
        return refused('ACCESS_DENIED', `database ${JSON.stringify(target.name)} is not granted to component ${component} (databases = ${JSON.stringify(c?.databases ?? [])})`);
      }
      const named = state.named.get(target.name);
      if (!named) return refused('UNAVAILABLE', `database ${JSON.stringify(target.name)} is not served by this node`);
      return named;
    }
    const address = parsePgUrl(target.url);
    if (typeof address === 'string') return refused('INVALID_ARGUMENT', `the address is not valid: expected ${address}`);
    const match = c?.policy?.allows('postgres', address.hostname, address.port);
    if (!match?.allowed) {
      return refused('ACCESS_DENIED', `${hostPort(address)} is not allowed by allowed_outbound_hosts of component ${component} (an entry like "postgres://${address.hostname}:${address.port}" allows it)`);
    }
    const key = JSON.stringify([address.key, match.explicit, target.ca ?? null]);
    const pool = state.urlPool(key, () => ({ address, label: address.shown, limits: DEFAULT_DATABASE_LIMITS, explicit: match.explicit, ca: target.ca }));
    if (!pool) return refused('LIMIT_EXCEEDED', `at most ${PG_LIMITS.maxAddressesPerApp} distinct postgres:// addresses per app (each has its own pool)`);
    return { pool, limits: DEFAULT_DATABASE_LIMITS };
  };

  /** Runs a statement on the guest connection's session, or on a pooled connection it gives back. */
  const run = async (sessions: Sessions, call: { conn: number; statement: string; params: PgParam[] }, r: Route, mode: 'query' | 'execute', request: RequestContext): Promise<StatementOutcome | PgFailure> => {
    const session = sessions.open.get(call.conn);
    if (session && 'lost' in session) {
      // ROLLBACK written as SQL (Spin's way) acknowledges the loss, as pg_rollback does.
      if (!ROLLBACK.test(call.statement)) return connectionFailure('UNAVAILABLE', session.lost);
      sessions.open.delete(call.conn);
      return { kind: 'affected', rows: 0n, command: 'ROLLBACK' };
    }
    let conn: PgConnection;
    if (session) conn = session.conn;
    else {
      try {
        conn = await r.pool.acquire(request.signal);
      } catch (err) {
        if (err instanceof StoreError) return connectionFailure(err.reason === 'TIMEOUT' ? 'TIMEOUT' : 'UNAVAILABLE', err.message);
        if (err instanceof HostCallError) return refused(err.status, err.message);
        throw err;
      }
    }
    let result: StatementOutcome | PgFailure;
    try {
      result = await runStatement(conn, call.statement, call.params.map(toWire), mode, r.limits, request.signal, r.pool.opts.address.port);
    } catch (err) {
      if (!(err instanceof StatementError)) throw err;
      result = err.failure;
    }
    const tx = conn.dead ? undefined : conn.client.getTransactionStatus();
    if (tx === 'T' || tx === 'E') {
      if (!session) {
        if (sessions.isEnded) {
          void rollbackAndRelease(r.pool, conn);
          return refused('TIMEOUT', 'the request ended; the transaction was rolled back');
        }
        const inTransaction = [...sessions.open.values()].filter((s) => 'conn' in s).length;
        if (inTransaction >= PG_LIMITS.maxTransactions) {
          void rollbackAndRelease(r.pool, conn);
          return refused('LIMIT_EXCEEDED', `at most ${PG_LIMITS.maxTransactions} connections of one request in a transaction at once (each holds a pooled connection); the transaction was rolled back`);
        }
        sessions.open.set(call.conn, { pool: r.pool, conn });
      }
      return result;
    }
    if (session) {
      if (conn.dead) {
        // The transaction went with the connection: say so on every statement until the guest rolls back.
        const why = 'kind' in result ? 'the connection to PostgreSQL was lost' : result.message;
        sessions.open.set(call.conn, { pool: r.pool, lost: `the transaction on this connection was rolled back when its connection closed (${why}); roll back on this connection to go on` });
        r.pool.release(conn, false);
        return 'kind' in result ? connectionFailure('UNAVAILABLE', why) : result;
      }
      sessions.open.delete(call.conn);
    }
    r.pool.release(conn, !conn.dead);
    return result;
  };

  return async (call: PgCall, component: string, request: RequestContext, deadlineAt: number | undefined): Promise<PgReply> => {
    const r = route(call.target, component);
    if ('ok' in r) return r;
    if (call.action === 'open') return { ok: true, kind: 'opened' };
    const sessions = request.local('pg.sessions', () => new Sessions(request.signal, deadlineAt));
    const session = sessions.open.get(call.conn);
    if (session && session.pool !== r.pool) return refused('INVALID_ARGUMENT', 'this connection is in a transaction on another database');
    switch (call.action) {
      case 'close': {
        sessions.open.delete(call.conn);
        if (session && 'conn' in session) await rollbackAndRelease(session.pool, session.conn);
        return { ok: true, kind: 'done' };
      }
      case 'begin': {
        if (session) return refused('INVALID_ARGUMENT', 'a transaction is already open on this connection: commit or roll it back first');
        const out = await run(sessions, { conn: call.conn, statement: 'BEGIN', params: [] }, r, 'execute', request);
        return 'kind' in out ? { ok: true, kind: 'done' } : out;
      }
      case 'commit':
      case 'rollback': {
        if (!session) return refused('INVALID_ARGUMENT', `no transaction is open on this connection: begin one first`);
        if ('lost' in session) {
          sessions.open.delete(call.conn);
          return call.action === 'rollback' ? { ok: true, kind: 'done' } : connectionFailure('UNAVAILABLE', session.lost);
        }
        const out = await run(sessions, { conn: call.conn, statement: call.action === 'commit' ? 'COMMIT' : 'ROLLBACK', params: [] }, r, 'execute', request);
        if (!('kind' in out)) return out;
        // COMMIT of a transaction in which a statement failed rolls it back (and says ROLLBACK).
        if (call.action === 'commit' && out.command === 'ROLLBACK') {
          return { ok: false, status: 'CONFLICT', sqlstate: '25P02', message: 'the transaction was rolled back, not committed: a statement in it had failed', cause: 'query' };
        }
        return { ok: true, kind: 'done' };
      }
      default: {
        const out = await run(sessions, call, r, call.action, request);
        if (!('kind' in out)) return out;
        return out.kind === 'rows' ? { ok: true, kind: 'rows', columns: out.columns, rows: out.rows } : { ok: true, kind: 'affected', rows: out.rows };
      }
    }
  };
}

function hostPort(a: PgAddress): string {
  return `postgres://${a.hostname}:${a.port}`;
}
