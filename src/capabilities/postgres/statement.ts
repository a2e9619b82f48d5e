/**
 * One statement on one session, on the main thread. Always the extended protocol: one
 * statement per call, its parameters sent apart from its text (never spliced into it), so a
 * parameter is only ever data and `; DROP TABLE` in one is stored as text.
 *
 * A query's rows are typed and counted as they arrive; the row past `maxRows`, or the bytes past
 * `maxResultBytes`, stop it: the session is abandoned (closed, so an implicit transaction is
 * rolled back, and never pooled again) and the guest gets LIMIT_EXCEEDED stating the cap. The
 * portal is executed `maxRows + 1` rows at a time, so PostgreSQL stops producing right there.
 * A statement still running when its request ends, or past its statement_timeout with no word
 * from the server, is cancelled (a CancelRequest on a new socket) and its session abandoned.
 */
import net from 'node:net';
import type pg from 'pg';
import { lazyRequire } from '../../lazy-require.js';
import { databaseFailure, refused } from './errors.js';
import type { PgConnection } from './pool.js';
import type { PgCell, PgColumn, PgFailure } from './types.js';
import { decodeCell, describeColumn, type WireParam } from './values.js';

export interface StatementCaps {
  maxRows: number;
  maxResultBytes: number;
  statementTimeoutMs: number;
}

export type StatementOutcome =
  | { kind: 'rows'; columns: PgColumn[]; rows: PgCell[][]; command: string }
  | { kind: 'affected'; rows: bigint; command: string };

/** How long past statement_timeout the client waits for the server's own cancellation before it gives up. */
export const CLIENT_TIMEOUT_GRACE_MS = 2000;

/** A failed statement: `failure` is what the guest gets. */
export class StatementError extends Error {
  constructor(readonly failure: PgFailure) {
    super(failure.message);
  }
}

/** What node-postgres's Query does with the server's messages (not in its type declarations). */
interface QueryHooks {
  rows?: number;
  handleCommandComplete(msg: unknown, connection: { sync(): void }): void;
  handleError(err: Error, connection: { sync(): void }): void;
}
type QueryConfig = pg.QueryConfig & { rowMode: 'array'; queryMode: 'extended'; rows?: number };
const loadPg = lazyRequire<typeof pg>('pg');
let rowLimitedQueryClass: (new (config: QueryConfig) => pg.Query & QueryHooks) | undefined;

/**
 * node-postgres's Query executing `rows` at a time ends each Execute with a Flush, not a Sync,
 * until the command completes; after an error the server discards everything until a Sync, so
 * without one the session would hang. This one sends it (pg-cursor does the same).
 */
function rowLimitedQuery(config: QueryConfig): pg.Query & QueryHooks {
  // Defined on first use: extending pg's Query needs pg loaded, and most apps never load it.
  rowLimitedQueryClass ??= class RowLimitedQuery extends (loadPg().Query as unknown as new (config: QueryConfig) => pg.Query & QueryHooks) {
    private completed = false;

    override handleCommandComplete(msg: unknown, connection: { sync(): void }): void {
      this.completed = true;
      super.handleCommandComplete(msg, connection);
    }

    override handleError(err: Error, connection: { sync(): void }): void {
      if (this.rows && !this.completed) connection.sync();
      super.handleError(err, connection);
    }
  };
  return new rowLimitedQueryClass(config);
}

interface FieldsResult {
  fields?: Array<{ name: string; dataTypeID: number }>;
  command?: string;
  rowCount?: number | null;
}

/** Runs `statement`; throws StatementError. `signal` aborts it (the request ended). */
export function runStatement(
  conn: PgConnection,
  statement: string,
  params: WireParam[],
  mode: 'query' | 'execute',
  caps: StatementCaps,
  signal: AbortSignal,
  port: number,
): Promise<StatementOutcome> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let columns: PgColumn[] | undefined;
    const rows: PgCell[][] = [];
    let bytes = 0;

    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      f();
    };
    /** Stops here: the session is closed (rolling back what it had not committed) and never reused. */
    const abandon = (failure: PgFailure, cancel: boolean): void =>
      finish(() => {
        conn.dead = true;
        if (cancel) sendCancel(conn, port);
        destroy(conn);
        reject(new StatementError(failure));
      });

    const onAbort = (): void => abandon(refused('TIMEOUT', "the request ended before the statement finished; it was cancelled"), true);
    const guardMs = caps.statementTimeoutMs + CLIENT_TIMEOUT_GRACE_MS;
    const timer = setTimeout(
      () => abandon(refused('TIMEOUT', `no answer from PostgreSQL within statement_timeout (${caps.statementTimeoutMs} ms) and ${CLIENT_TIMEOUT_GRACE_MS} ms more; the statement was cancelled`), true),
      guardMs,
    );
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });

    const query = rowLimitedQuery({ text: statement, values: params, rowMode: 'array', queryMode: 'extended', ...(mode === 'query' ? { rows: caps.maxRows + 1 } : {}) });
    const columnsOf = (result: FieldsResult | undefined): PgColumn[] => (columns ??= (result?.fields ?? []).map((f) => describeColumn(f.name, f.dataTypeID)));

    query.on('row', (row: Array<string | null>, result?: FieldsResult) => {
      if (settled || mode === 'execute') return; // an execute's RETURNING rows are not kept
      const cols = columnsOf(result);
      if (rows.length >= caps.maxRows) {
        return abandon(refused('LIMIT_EXCEEDED', `the result has more than ${caps.maxRows} rows (the max_rows limit): add a LIMIT, or page with WHERE/ORDER BY`), false);
      }
      for (const text of row) if (text !== null) bytes += Buffer.byteLength(text);
      if (bytes > caps.maxResultBytes) {
        return abandon(refused('LIMIT_EXCEEDED', `the result has more than ${caps.maxResultBytes} bytes of row data (the max_result_bytes limit)`), false);
      }
      try {
        rows.push(row.map((text, i) => decodeCell(cols[i]!, text)));
      } catch (err) {
        abandon(refused('INVALID_ARGUMENT', `column ${cols.length}: cannot read the value PostgreSQL sent (${err instanceof Error ? err.message : String(err)})`), false);
      }
    });
    query.on('end', (result: FieldsResult) =>
      finish(() => {
        const command = result?.command ?? '';
        if (mode === 'execute') resolve({ kind: 'affected', rows: BigInt(result?.rowCount ?? 0), command });
        else resolve({ kind: 'rows', columns: columnsOf(result), rows, command });
      }),
    );
    query.on('error', (err: Error) =>
      finish(() => {
        const failure = databaseFailure(err);
        // FATAL ends the session (the server closes it): never pooled again.
        if (failure?.severity === 'FATAL' || failure?.severity === 'PANIC') conn.dead = true;
        if (failure) return reject(new StatementError(failure));
        // Not PostgreSQL's answer: the connection failed under the statement.
        conn.dead = true;
        reject(new StatementError({ ok: false, status: 'UNAVAILABLE', message: `the connection to PostgreSQL failed during the statement: ${err.message}`, cause: 'connection' }));
      }),
    );
    conn.client.query(query);
  });
}

/** Closes the socket at once: the server ends the session (and rolls back its open transaction). */
function destroy(conn: PgConnection): void {
  const stream = (conn.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  stream?.destroy();
}

/** PostgreSQL's CancelRequest (protocol §53.2.7), on a new socket to the same server; best effort. */
export function sendCancel(conn: PgConnection, port: number): void {
  const { processID, secretKey } = conn.client as unknown as { processID: number | null; secretKey: number | null };
  if (processID === null || secretKey === null) return;
  const message = Buffer.alloc(16);
  message.writeInt32BE(16, 0);
  message.writeInt32BE(80877102, 4);
  message.writeInt32BE(processID, 8);
  message.writeInt32BE(secretKey, 12);
  const socket = net.connect({ host: conn.ip, port });
  socket.setTimeout(2000, () => socket.destroy());
  socket.on('error', () => {});
  socket.on('connect', () => socket.end(message));
}
