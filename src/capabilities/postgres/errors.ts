/**
 * What a guest learns when a statement fails: PostgreSQL's SQLSTATE and message as they are,
 * and, for verge:v1, a status from the SQLSTATE's class, so a guest can act without parsing
 * codes: a constraint violation or a serialization failure is CONFLICT (409, retry), a
 * cancelled statement TIMEOUT, a server going away UNAVAILABLE (503), a missing privilege
 * ACCESS_DENIED, and the rest — the statement's own fault — INVALID_ARGUMENT.
 */
import type { StatusName } from '../abi.js';
import type { PgFailure } from './types.js';

export function statusForSqlstate(sqlstate: string): StatusName {
  const cls = sqlstate.slice(0, 2);
  if (cls === '23' || cls === '40') return 'CONFLICT'; // integrity constraint; serialization failure, deadlock
  if (sqlstate === '57014') return 'TIMEOUT'; // query_canceled: statement_timeout, or a cancel
  if (cls === '08' || cls === '53' || cls === '57' || cls === '58') return 'UNAVAILABLE'; // connection; resources; shutdown; system
  if (sqlstate === '42501') return 'ACCESS_DENIED'; // insufficient_privilege
  return 'INVALID_ARGUMENT';
}

/** The fields of a node-postgres DatabaseError (an ErrorResponse from the server). */
interface DatabaseErrorFields {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
  detail?: unknown;
}

/** A failure PostgreSQL reported, or undefined when `err` is not one (a lost connection, say). */
export function databaseFailure(err: unknown): PgFailure | undefined {
  const e = err as DatabaseErrorFields | null;
  if (!(err instanceof Error) || typeof e?.code !== 'string' || !/^[0-9A-Z]{5}$/.test(e.code)) return undefined;
  const sqlstate = e.code;
  return {
    ok: false,
    status: statusForSqlstate(sqlstate),
    sqlstate,
    severity: typeof e.severity === 'string' ? e.severity : undefined,
    message: err.message,
    detail: typeof e.detail === 'string' ? e.detail : undefined,
    cause: sqlstate.startsWith('08') || sqlstate.startsWith('57P') ? 'connection' : 'query',
  };
}

export function refused(status: StatusName, message: string): PgFailure {
  return { ok: false, status, message, cause: 'refused' };
}

export function connectionFailure(status: StatusName, message: string): PgFailure {
  return { ok: false, status, message, cause: 'connection' };
}
