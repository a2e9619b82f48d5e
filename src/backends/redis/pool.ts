/**
 * Connections to one Redis address, on the main thread: at most `maxConnections`, each lent to
 * one caller at a time (so a WATCH ... EXEC transaction has its connection to itself), kept idle
 * for `idleTimeoutMs` after use and then closed. A caller waits for a free connection no longer
 * than its deadline. A connection that failed or timed out is dropped, never lent again: the pool
 * recovers by opening new ones, so a server that restarts is reached again on the next call.
 */
import { StoreError } from '../store.js';
import type { RedisAddress } from './address.js';
import { RedisConnection } from './connection.js';

export interface PoolOptions {
  address: RedisAddress;
  /** Checked IP addresses (a guest's address, after the allow-list); absent: the host name. */
  pinned?: readonly string[] | undefined;
  maxConnections: number;
  idleTimeoutMs: number;
  maxReplyBytes: number;
  /** A private CA for rediss (tests). */
  ca?: string | Buffer | undefined;
}

interface Waiter {
  deadlineAt: number;
  resolve: (conn: RedisConnection) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class RedisPool {
  private readonly live = new Set<RedisConnection>();
  private readonly idle: Array<{ conn: RedisConnection; timer: NodeJS.Timeout }> = [];
  private readonly waiters: Waiter[] = [];
  private opening = 0;
  private closed = false;

  constructor(readonly options: PoolOptions) {
    if (!(options.maxConnections >= 1)) throw new RangeError(`a Redis pool needs at least one connection, got ${options.maxConnections}`);
  }

  get address(): RedisAddress {
    return this.options.address;
  }

  /** Connections open or opening, and how many of them are idle. */
  get stats(): { open: number; idle: number; waiting: number } {
    return { open: this.live.size + this.opening, idle: this.idle.length, waiting: this.waiters.length };
  }

  /** Runs `fn` with a connection of its own, returned to the pool afterwards (or dropped if it failed). */
  async use<T>(deadlineAt: number, fn: (conn: RedisConnection) => Promise<T>): Promise<T> {
    const conn = await this.acquire(deadlineAt);
    try {
      return await fn(conn);
    } finally {
      this.release(conn);
    }
  }

  /** Closes every connection; later calls fail with UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.closedError());
    }
    for (const conn of [...this.live]) conn.destroy(this.closedError());
  }

  private closedError(): StoreError {
    return new StoreError('UNAVAILABLE', `the connection pool for ${this.options.address.shown} is closed`);
  }

  private acquire(deadlineAt: number): Promise<RedisConnection> {
    if (this.closed) return Promise.reject(this.closedError());
    for (let e = this.idle.pop(); e; e = this.idle.pop()) {
      clearTimeout(e.timer);
      if (e.conn.usable) return Promise.resolve(e.conn);
    }
    if (this.live.size + this.opening < this.options.maxConnections) return this.open(deadlineAt);
    return new Promise((resolve, reject) => {
      const left = Math.max(0, deadlineAt - Date.now());
      const waiter: Waiter = {
        deadlineAt,
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i !== -1) this.waiters.splice(i, 1);
          reject(new StoreError('TIMEOUT', `all ${this.options.maxConnections} connections to ${this.options.address.shown} stayed busy for ${left} ms (the call's deadline)`));
        }, left),
      };
      this.waiters.push(waiter);
    });
  }

  private async open(deadlineAt: number): Promise<RedisConnection> {
    this.opening++;
    let conn: RedisConnection;
    try {
      conn = await RedisConnection.connect({ address: this.options.address, pinned: this.options.pinned, deadlineAt, maxReplyBytes: this.options.maxReplyBytes, ca: this.options.ca });
    } catch (err) {
      this.opening--;
      this.dispatch();
      throw err;
    }
    this.opening--;
    if (this.closed) {
      conn.destroy(this.closedError());
      throw this.closedError();
    }
    this.live.add(conn);
    conn.onClose(() => {
      this.live.delete(conn);
      const i = this.idle.findIndex((e) => e.conn === conn);
      if (i !== -1) clearTimeout(this.idle.splice(i, 1)[0]!.timer);
      this.dispatch();
    });
    return conn;
  }

  private release(conn: RedisConnection): void {
    if (!conn.usable) return; // its close listener already freed its place
    if (this.closed) {
      conn.destroy(this.closedError());
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      waiter.resolve(conn);
      return;
    }
    const timer = setTimeout(() => conn.destroy(), this.options.idleTimeoutMs);
    timer.unref();
    this.idle.push({ conn, timer });
  }

  /** A place freed up: the longest waiter opens a connection of its own. */
  private dispatch(): void {
    while (!this.closed && this.waiters.length > 0 && this.live.size + this.opening < this.options.maxConnections) {
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      this.open(waiter.deadlineAt).then(waiter.resolve, waiter.reject);
    }
  }
}
