/**
 * The guest-input checks of the PostgreSQL capability, in the worker, shared by both bindings:
 * nothing malformed or oversized reaches the main thread.
 */
import { HostCallError } from '../abi.js';
import { PG_LIMITS } from './limits.js';
import type { PgParam } from './types.js';

/** A statement's text: not empty, not over the limit, no NUL (PostgreSQL's text cannot hold one). */
export function checkStatement(statement: string | undefined, api: string): string {
  if (statement === undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: the statement is not valid UTF-8`);
  if (statement.trim() === '') throw new HostCallError('INVALID_ARGUMENT', `${api}: the statement is empty`);
  if (Buffer.byteLength(statement) > PG_LIMITS.maxStatementBytes) {
    throw new HostCallError('LIMIT_EXCEEDED', `${api}: a statement may be at most ${PG_LIMITS.maxStatementBytes} bytes`);
  }
  if (statement.includes('\0')) throw new HostCallError('INVALID_ARGUMENT', `${api}: the statement contains a NUL character`);
  return statement;
}

/** The encoded size of all parameters, before they are read from guest memory. */
export function checkParamBytes(length: number, api: string): void {
  if (length > PG_LIMITS.maxParamBytes) throw new HostCallError('LIMIT_EXCEEDED', `${api}: the parameters may be at most ${PG_LIMITS.maxParamBytes} bytes together`);
}

/** Count, size and text of parameters however they arrived (verge:v1 bytes or spin:postgres values). */
export function checkParams(params: readonly PgParam[], api: string): PgParam[] {
  if (params.length > PG_LIMITS.maxParams) throw new HostCallError('LIMIT_EXCEEDED', `${api}: at most ${PG_LIMITS.maxParams} parameters`);
  let bytes = 0;
  const visit = (p: PgParam, at: string, depth: number): void => {
    if (p === null) return;
    if (p.kind === 'array') {
      if (depth >= PG_LIMITS.maxArrayDepth) throw new HostCallError('INVALID_ARGUMENT', `${api}: parameter ${at}: arrays nest at most ${PG_LIMITS.maxArrayDepth} deep`);
      p.value.forEach((item, i) => visit(item, `${at}[${i}]`, depth + 1));
      return;
    }
    if (p.kind === 'bytes') bytes += p.value.length;
    else if (typeof p.value === 'string') {
      bytes += p.value.length;
      if (p.value.includes('\0')) throw new HostCallError('INVALID_ARGUMENT', `${api}: parameter ${at} contains a NUL character, which PostgreSQL text cannot hold (send bytes instead)`);
    } else bytes += 8;
    if (bytes > PG_LIMITS.maxParamBytes) throw new HostCallError('LIMIT_EXCEEDED', `${api}: the parameters may be at most ${PG_LIMITS.maxParamBytes} bytes together`);
  };
  params.forEach((p, i) => visit(p, `$${i + 1}`, 0));
  return params as PgParam[];
}

/** A database name or a postgres:// address the guest opens. */
export function checkAddressText(address: string | undefined, api: string): string {
  if (address === undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: the address is not valid UTF-8`);
  if (address === '') throw new HostCallError('INVALID_ARGUMENT', `${api}: the address is empty: name a database from verge.toml or a postgres:// URL`);
  if (Buffer.byteLength(address) > PG_LIMITS.maxAddressBytes) throw new HostCallError('LIMIT_EXCEEDED', `${api}: an address may be at most ${PG_LIMITS.maxAddressBytes} bytes`);
  return address;
}
