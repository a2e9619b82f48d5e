/**
 * Connections to one PostgreSQL address, pooled on the main thread for one app: at most
 * `poolSize` open, idle ones closed after `idleTimeoutMs`, a call waiting for a free one within
 * its request's deadline. Each new connection goes through the outbound SSRF guard
 * (outbound-http/resolve.ts) unless the address is the operator's (a named database) or was
 * allowed explicitly, and connects only to the addresses checked; TLS verifies the certificate
 * against the host name. Connecting failures trip the pool's circuit breaker (kv/breaker.ts):
 * after 5 in a row calls fail at once with UNAVAILABLE for 5 s, then one trial decides.
 *
 * Every session is set to the formats values.ts reads (DateStyle ISO, TimeZone UTC,
 * IntervalStyle iso_8601, bytea hex) and carries the database's statement_timeout. A connection
 * whose guest changed a reported format (SET TimeZone, say) is closed rather than pooled.
 */
import { rootCertificates } from 'node:tls';
import { isIP } from 'node:net';
import type pg from 'pg';
import { lazyRequire } from '../../lazy-require.js';
import { StoreError } from '../../backends/store.js';
import { createBreaker, type Breaker, type BreakerState } from '../kv/breaker.js';
import { HostCallError } from '../abi.js';
import { checkedAddresses, defaultLookup, errorMessage, type LookupFn } from '../outbound-http/resolve.js';
import type { PgDatabaseLimits } from './limits.js';
import type { PgAddress } from './url.js';

/** pg is loaded by the first connection: most apps never use PostgreSQL. */
const loadPg = lazyRequire<typeof pg>('pg');

/** Session settings values.ts relies on: a change of one (reported by the server) retires the connection. */
const SESSION_OPTIONS = '-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 -c bytea_output=hex -c client_encoding=UTF8';
const WATCHED_SETTINGS = new Set(['DateStyle', 'TimeZone', 'IntervalStyle', 'client_encoding', 'session_authorization']);
/** Every value arrives as PostgreSQL's text; values.ts types it by the column's OID. */
const RAW_TEXT = { getTypeParser: () => (text: string) => text };

export interface PgPoolOptions {
  address: PgAddress;
  /** How messages name it: `database "main"`, or the address without user info. */
  label: string;
  limits: PgDatabaseLimits;
  /** False for a guest's address allowed by a wildcard entry: only public addresses. Named databases are the operator's: true. */
  explicit: boolean;
  /** PEM certificates trusted besides Node's roots. */
  ca?: string | undefined;
  lookup?: LookupFn;
  onBreaker?: (state: BreakerState, reason: string | undefined) => void;
}

/** One open session. */
export class PgConnection {
  /** The connection failed or ended: never reused. */
  dead = false;
  /** The guest changed a session setting Verge relies on: not pooled again. */
  tainted = false;
  /** The address it connected to (for a cancel request). */
  readonly ip: string;

  constructor(
    readonly client: pg.Client,
    ip: string,
  ) {
    this.ip = ip;
  }
}

type Waiter = (grant: { conn: PgConnection } | { slot: true }) => void;

export class PgPool {
  private readonly idle: Array<{ conn: PgConnection; timer: NodeJS.Timeout }> = [];
  private readonly waiters: Waiter[] = [];
  /** Connections open or being opened. */
  private total = 0;
  private closed = false;
  readonly breaker: Breaker;

  constructor(readonly opts: PgPoolOptions) {
    this.breaker = createBreaker({ name: opts.label, subject: opts.label, onStateChange: (state, reason) => opts.onBreaker?.(state, reason) });
  }

  get size(): { open: number; idle: number; waiting: number } {
    return { open: this.total, idle: this.idle.length, waiting: this.waiters.length };
  }

  /**
   * A session for one statement or transaction; give it back with release. Throws StoreError
   * (UNAVAILABLE: cannot connect, circuit open; TIMEOUT: none free in time) or OutboundError
   * (ACCESS_DENIED: a non-public address behind a wildcard).
   */
  async acquire(signal: AbortSignal): Promise<PgConnection> {
    for (;;) {
      if (this.closed) throw new StoreError('UNAVAILABLE', `${this.opts.label}: the pool is closed (the node is stopping)`);
      const idle = this.idle.pop();
      if (idle) {
        clearTimeout(idle.timer);
        if (!idle.conn.dead) return idle.conn;
        this.total--;
        continue;
      }
      if (this.total < this.opts.limits.poolSize) return this.open(signal);
      const grant = await this.wait(signal);
      if ('conn' in grant) return grant.conn;
      return this.open(signal);
    }
  }

  /** Gives a session back: pooled if `reuse` and it is healthy, else closed. */
  release(conn: PgConnection, reuse: boolean): void {
    if (!reuse || conn.dead || conn.tainted || this.closed) {
      this.discard(conn);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) return waiter({ conn });
    const timer = setTimeout(() => {
      const at = this.idle.findIndex((e) => e.conn === conn);
      if (at !== -1) this.idle.splice(at, 1);
      this.discard(conn);
    }, this.opts.limits.idleTimeoutMs);
    timer.unref();
    this.idle.push({ conn, timer });
  }

  async close(): Promise<void> {
    this.closed = true;
    const idle = this.idle.splice(0);
    for (const { timer } of idle) clearTimeout(timer);
    await Promise.all(idle.map(({ conn }) => conn.client.end().catch(() => {})));
  }

  private discard(conn: PgConnection): void {
    conn.dead = true;
    this.total--;
    conn.client.end().catch(() => {});
    // A slot is free: the first waiter opens a connection of its own.
    this.waiters.shift()?.({ slot: true });
  }

  private wait(signal: AbortSignal): Promise<{ conn: PgConnection } | { slot: true }> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = (grant) => {
        signal.removeEventListener('abort', onAbort);
        resolve(grant);
      };
      const onAbort = (): void => {
        const at = this.waiters.indexOf(waiter);
        if (at !== -1) this.waiters.splice(at, 1);
        reject(new StoreError('TIMEOUT', `${this.opts.label}: all ${this.opts.limits.poolSize} pooled connections stayed busy until the request's deadline (pool_size)`));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Opens a connection in a slot already counted by `total`, through the breaker. */
  private async open(signal: AbortSignal): Promise<PgConnection> {
    this.total++;
    try {
      return await this.breaker.callAsync(() => this.connect(signal));
    } catch (err) {
      this.total--;
      this.waiters.shift()?.({ slot: true });
      throw err;
    }
  }

  private async connect(signal: AbortSignal): Promise<PgConnection> {
    const { address, label, limits } = this.opts;
    let ips: string[];
    try {
      ips = (await checkedAddresses(address.hostname, this.opts.explicit, address.shown, this.opts.lookup ?? defaultLookup, signal)).map((a) => a.address);
    } catch (err) {
      if (signal.aborted) throw new StoreError('TIMEOUT', `${label}: the request ended while resolving ${address.hostname}`);
      // A name that does not resolve is a database that cannot be reached (counted by the breaker);
      // an address the rules refuse is not (OutboundError ACCESS_DENIED passes through).
      if (err instanceof HostCallError && err.status === 'NETWORK') throw new StoreError('UNAVAILABLE', `${label}: ${err.message}`, { cause: err });
      throw err;
    }
    let last: unknown;
    for (const ip of ips) {
      if (signal.aborted) break;
      const client = new (loadPg().Client)({
        host: ip,
        port: address.port,
        user: address.user,
        password: address.password ?? '',
        database: address.database,
        ssl: address.tls === 'verify' ? tlsOptions(address.hostname, this.opts.ca) : false,
        options: SESSION_OPTIONS,
        statement_timeout: limits.statementTimeoutMs,
        connectionTimeoutMillis: limits.connectTimeoutMs,
        application_name: 'verge',
        keepAlive: true,
        types: RAW_TEXT,
      });
      const conn = new PgConnection(client, ip);
      // An error on an idle connection (the server went away) is not the process's to crash on.
      client.on('error', () => void (conn.dead = true));
      client.on('end', () => void (conn.dead = true));
      let ready = false;
      (client as unknown as { connection: NodeJS.EventEmitter }).connection.on('parameterStatus', (msg: { parameterName: string }) => {
        if (ready && WATCHED_SETTINGS.has(msg.parameterName)) conn.tainted = true;
      });
      const abort = (): void => void client.end().catch(() => {});
      signal.addEventListener('abort', abort, { once: true });
      try {
        await client.connect();
        ready = true;
        return conn;
      } catch (err) {
        last = err;
        client.end().catch(() => {});
      } finally {
        signal.removeEventListener('abort', abort);
      }
    }
    if (signal.aborted) throw new StoreError('TIMEOUT', `${label}: the request ended while connecting to ${address.hostname}:${address.port}`);
    throw new StoreError('UNAVAILABLE', `${label}: cannot connect to ${address.hostname}:${address.port}: ${describeConnectFailure(last)}`, { cause: last });
  }
}

function tlsOptions(hostname: string, ca: string | undefined): pg.ClientConfig['ssl'] {
  const name = hostname.replace(/^\[|\]$/g, '');
  return {
    rejectUnauthorized: true,
    // The socket goes to a checked IP address; the certificate is verified against the host name.
    ...(isIP(name) === 0 ? { servername: name } : { host: name }),
    ...(ca ? { ca: [...rootCertificates, ca] } : {}),
  };
}

function describeConnectFailure(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)';
  if (code && /^[0-9A-Z]{5}$/.test(code)) return `PostgreSQL refused the session: ${errorMessage(err)} (SQLSTATE ${code})`;
  if (err instanceof Error && /timeout/i.test(err.message)) return `no answer within the connect timeout (${errorMessage(err)})`;
  return code ? `${errorMessage(err)} (${code})` : errorMessage(err);
}
