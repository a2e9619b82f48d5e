/**
 * PostgreSQL inside a worker, shared by both bindings: the grant check (a database name must be
 * in the component's `databases`; a postgres:// address needs allowed_outbound_hosts, whose
 * entries the main thread then matches), the input checks (checks.ts), per-request connection
 * handles, and the calls over the host bridge. The pool, the allow-list and the statements run
 * on the main thread.
 */
import { HostCallError } from '../abi.js';
import type { Frame, GuestScope } from '../../sandbox/scope.js';
import { checkAddressText, checkParams, checkStatement } from './checks.js';
import { PG_LIMITS } from './limits.js';
import type { PgCall, PgCell, PgColumn, PgFailure, PgParam, PgReply, PgTarget } from './types.js';
import { redactUrl } from './url.js';

/**
 * A failed call, carrying what the guest learns (the SQLSTATE when PostgreSQL reported it). Its
 * message is what the log gets: PostgreSQL quotes values in some messages (`invalid input syntax
 * for type integer: "..."`), so quoted text is elided there; the guest gets the message whole.
 */
export class PgError extends HostCallError {
  constructor(readonly failure: PgFailure) {
    super(failure.status, failure.sqlstate ? `PostgreSQL error ${failure.sqlstate}: ${failure.message.replace(/"[^"]*"/g, '"…"')}` : failure.message);
    this.name = 'PgError';
  }
}

export interface PgHandle {
  readonly id: number;
  readonly target: PgTarget;
  /** The request that opened it: a connection is not used by a later one (a reused instance). */
  readonly frame: Frame;
  /** verge:v1: the last result (pg_result reads it) and the last failure (pg_error). */
  lastResult?: Uint8Array;
  lastError?: PgFailure;
}

export type PgAccess = ReturnType<typeof pgAccess>;

export function pgAccess(scope: GuestScope) {
  const handles = () => scope.frame.local('pg.handles', () => ({ next: 0, open: new Map<number, PgHandle>() }));

  const targetOf = (text: string | undefined, api: string, ca?: string): PgTarget => {
    const address = checkAddressText(text, api);
    const { grants, component } = scope.frame;
    if (address.includes('://')) {
      if (!grants.outbound) throw new HostCallError('ACCESS_DENIED', `component ${component} has no allowed_outbound_hosts, so ${redactUrl(address)} is refused`);
      return { kind: 'url', url: address, ca };
    }
    const granted = grants.postgres?.databases ?? [];
    if (!granted.includes(address)) {
      throw new HostCallError('ACCESS_DENIED', `database ${JSON.stringify(address)} is not granted to component ${component} (databases = ${JSON.stringify(granted)})`);
    }
    if (ca !== undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: database ${JSON.stringify(address)} is configured in verge.toml (tls_ca there), not by the guest`);
    return { kind: 'named', name: address };
  };

  /** One call to the main thread; a failure throws PgError, kept on the handle. */
  const call = (handle: PgHandle | undefined, body: PgCall): PgReply & { ok: true } => {
    const target = body.target.kind === 'named' ? body.target.name : redactUrl(body.target.url);
    return scope.traced(
      'postgres',
      `pg.${body.action}`,
      () => ({ 'db.system.name': 'postgresql', 'verge.pg.database': target, ...('statement' in body ? { 'db.operation.name': operation(body.statement) } : {}) }),
      () => {
        const reply = scope.call<PgReply>({ op: 'pg', pg: body });
        if (!reply.ok) {
          if (handle) handle.lastError = reply;
          throw new PgError(reply);
        }
        if (handle) handle.lastError = undefined;
        return reply;
      },
      undefined,
      'client',
    );
  };

  const handle = (id: number, api: string): PgHandle => {
    const h = handles().open.get(id);
    if (!h) throw new HostCallError('INVALID_ARGUMENT', `${api}: no connection has handle ${id} (closed, or never returned by pg_open)`);
    return h;
  };

  /** A handle of the current request; a connection object kept by a reused instance from an earlier request is refused. */
  const live = (h: PgHandle, api: string): PgHandle => {
    if (h.frame !== scope.frame || !h.frame.live) throw new HostCallError('INVALID_ARGUMENT', `${api}: this connection was opened by an earlier request; open one in this request`);
    return h;
  };

  const statementCall = (h: PgHandle, action: 'query' | 'execute', statement: string | undefined, params: readonly PgParam[], api: string) => {
    live(h, api);
    const body: PgCall = { action, conn: h.id, target: h.target, statement: checkStatement(statement, api), params: checkParams(params, api) };
    return call(h, body);
  };

  return {
    handle,
    /** Opens a connection to a database name or a postgres:// address; `ca`: PEM certificates the guest trusts for it. */
    open(address: string | undefined, api: string, ca?: string): PgHandle {
      const target = targetOf(address, api, ca);
      const own = handles();
      if (own.open.size >= PG_LIMITS.maxConnections) throw new HostCallError('LIMIT_EXCEEDED', `${api}: at most ${PG_LIMITS.maxConnections} open connections per request: open each database once and keep its handle`);
      const h: PgHandle = { id: own.next++, target, frame: scope.frame };
      call(undefined, { action: 'open', conn: h.id, target });
      own.open.set(h.id, h);
      return h;
    },
    query(h: PgHandle, statement: string | undefined, params: readonly PgParam[], api: string): { columns: PgColumn[]; rows: PgCell[][] } {
      const reply = statementCall(h, 'query', statement, params, api);
      if (reply.kind !== 'rows') throw new HostCallError('UNAVAILABLE', `${api}: the host answered ${reply.kind} to a query`);
      return reply;
    },
    execute(h: PgHandle, statement: string | undefined, params: readonly PgParam[], api: string): bigint {
      const reply = statementCall(h, 'execute', statement, params, api);
      if (reply.kind !== 'affected') throw new HostCallError('UNAVAILABLE', `${api}: the host answered ${reply.kind} to an execute`);
      return reply.rows;
    },
    transaction(h: PgHandle, action: 'begin' | 'commit' | 'rollback', api: string): void {
      call(live(h, api), { action, conn: h.id, target: h.target });
    },
    /** Rolls back the connection's open transaction, if any (the main thread knows), and forgets the handle. */
    close(h: PgHandle, api: string): void {
      if (h.frame !== scope.frame || !h.frame.live) return; // its request already ended: everything was rolled back then
      handles().open.delete(h.id);
      call(h, { action: 'close', conn: h.id, target: h.target });
    },
  };
}

/** The statement's first keyword (SELECT, INSERT, ...): a span's operation, never its text. */
function operation(statement: string): string {
  return /^\s*([A-Za-z]+)/.exec(statement)?.[1]?.toUpperCase() ?? 'UNKNOWN';
}
