/**
 * verge:v1 pg_* for WAGI modules (docs/abi.md, "PostgreSQL"): lengths are checked before guest
 * memory is read, parameters decoded (codec.ts), then postgres/access.ts checks the grant and
 * the input and makes the call. A query's result is kept on its connection for pg_result; a
 * failure for pg_error.
 */
import { HostCallError, Status } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { pgAccess, PgError, type PgHandle } from '../access.js';
import { checkParamBytes } from '../checks.js';
import { decodeParams, encodeResult } from '../codec.js';
import { PG_LIMITS } from '../limits.js';

const encoder = new TextEncoder();

export function pgImports(scope: GuestScope) {
  const mem = scope.memory;
  const pg = pgAccess(scope);

  /** Refused by its length before guest memory is read. */
  const text = (ptr: number, len: number, max: number, what: string, api: string): string | undefined => {
    if (len >>> 0 > max) throw new HostCallError('LIMIT_EXCEEDED', `${api}: ${what} may be at most ${max} bytes`);
    return mem.string(ptr, len, api);
  };
  const params = (ptr: number, len: number, api: string) => {
    checkParamBytes(len >>> 0, api);
    return decodeParams(mem.view(ptr, len, api), api);
  };
  /** Runs `fn` on the handle; a failure is also kept for pg_error. */
  const onHandle = (api: string, id: number, fn: (h: PgHandle) => number): number =>
    scope.guard(api, () => {
      const h = pg.handle(id, api);
      try {
        return fn(h);
      } catch (err) {
        if (err instanceof PgError) h.lastError = err.failure;
        else if (err instanceof HostCallError) h.lastError = { ok: false, status: err.status, message: err.message, cause: 'refused' };
        throw err;
      }
    });

  return {
    pg_open: (addrPtr: number, addrLen: number) =>
      scope.guard('pg_open', () => pg.open(text(addrPtr, addrLen, PG_LIMITS.maxAddressBytes, 'an address', 'pg_open'), 'pg_open').id),
    pg_query: (conn: number, stmtPtr: number, stmtLen: number, paramsPtr: number, paramsLen: number) =>
      onHandle('pg_query', conn, (h) => {
        const statement = text(stmtPtr, stmtLen, PG_LIMITS.maxStatementBytes, 'a statement', 'pg_query');
        const result = pg.query(h, statement, params(paramsPtr, paramsLen, 'pg_query'), 'pg_query');
        h.lastResult = encodeResult(result.columns, result.rows);
        return h.lastResult.length;
      }),
    pg_result: (conn: number, outPtr: number, outCap: number) =>
      onHandle('pg_result', conn, (h) => (h.lastResult === undefined ? Status.NOT_FOUND : mem.writeOut(outPtr, outCap, h.lastResult, 'pg_result'))),
    pg_execute: (conn: number, stmtPtr: number, stmtLen: number, paramsPtr: number, paramsLen: number, outPtr: number) =>
      onHandle('pg_execute', conn, (h) => {
        mem.range(outPtr, 8, 'pg_execute');
        const statement = text(stmtPtr, stmtLen, PG_LIMITS.maxStatementBytes, 'a statement', 'pg_execute');
        const rows = pg.execute(h, statement, params(paramsPtr, paramsLen, 'pg_execute'), 'pg_execute');
        mem.setI64(outPtr, rows, 'pg_execute');
        return Status.OK;
      }),
    pg_begin: (conn: number) => onHandle('pg_begin', conn, (h) => (pg.transaction(h, 'begin', 'pg_begin'), Status.OK)),
    pg_commit: (conn: number) => onHandle('pg_commit', conn, (h) => (pg.transaction(h, 'commit', 'pg_commit'), Status.OK)),
    pg_rollback: (conn: number) => onHandle('pg_rollback', conn, (h) => (pg.transaction(h, 'rollback', 'pg_rollback'), Status.OK)),
    pg_error: (conn: number, outPtr: number, outCap: number) =>
      scope.guard('pg_error', () => {
        const e = pg.handle(conn, 'pg_error').lastError;
        if (!e) return 0;
        const lines = [e.sqlstate ?? e.status, e.message, e.detail ?? ''];
        return mem.writeOut(outPtr, outCap, encoder.encode(lines.join('\n')), 'pg_error');
      }),
    pg_close: (conn: number) =>
      scope.guard('pg_close', () => {
        pg.close(pg.handle(conn, 'pg_close'), 'pg_close');
        return Status.OK;
      }),
  };
}
