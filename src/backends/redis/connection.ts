/**
 * One connection to a Redis server: TCP or TLS (rediss), to addresses the caller checked (a
 * guest's address, pinned after the allow-list and address checks) or to the host by name (an
 * operator's configuration), then AUTH and SELECT. Commands are written pipelined and replies
 * matched in order. A connection is used by one caller at a time (pool.ts lends it out), so
 * WATCH ... EXEC runs on it undisturbed.
 *
 * Every wait is bounded by the caller's deadline. A connection whose deadline passed, whose reply
 * was over the cap or not RESP, or whose socket failed is destroyed: a late reply can never be
 * read as the answer to the next command.
 */
import net from 'node:net';
import tls from 'node:tls';
import { HostCallError } from '../../capabilities/abi.js';
import { StoreError } from '../store.js';
import type { RedisAddress } from './address.js';
import { RespError, RespReadError, RespReader, encodeCommand, type RespValue } from './resp.js';

export type Command = ReadonlyArray<string | Uint8Array>;

export interface ConnectOptions {
  address: RedisAddress;
  /** Checked IP addresses to connect to, in order; absent: the host name, resolved by the system. */
  pinned?: readonly string[] | undefined;
  /** Epoch milliseconds: the connect, TLS handshake and AUTH/SELECT must be done by then. */
  deadlineAt: number;
  maxReplyBytes: number;
  /** PEM certificates trusted for rediss besides Node's roots (a private CA; tests). */
  ca?: string | Buffer | undefined;
}

export class RedisConnection {
  private readonly pending: Array<{ resolve: (v: RespValue) => void; reject: (e: Error) => void }> = [];
  private failure: Error | undefined;
  private readonly reader: RespReader;
  private readonly closeListeners: Array<() => void> = [];
  private pushListener: ((value: RespValue) => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: RedisAddress,
    maxReplyBytes: number,
  ) {
    this.reader = new RespReader(maxReplyBytes, (value) => {
      const waiter = this.pending.shift();
      if (waiter) waiter.resolve(value);
      else if (this.pushListener) this.pushListener(value);
      else this.destroy(new StoreError('UNAVAILABLE', `${address.shown} sent a reply nobody asked for`));
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.push(chunk);
      } catch (err) {
        if (!(err instanceof RespReadError)) throw err;
        this.destroy(
          err.kind === 'too-large'
            ? new HostCallError('LIMIT_EXCEEDED', `${address.shown}: ${err.message}`)
            : new StoreError('UNAVAILABLE', `${address.shown} broke the Redis protocol: ${err.message}`),
        );
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.destroy(new StoreError('UNAVAILABLE', `connection to ${address.shown} failed: ${describeSocketError(err)}`, { cause: err })));
    socket.on('close', () => this.destroy(new StoreError('UNAVAILABLE', `connection to ${address.shown} closed`)));
  }

  /** Connects, authenticates and selects the database; rejects with StoreError UNAVAILABLE or TIMEOUT. */
  static async connect(opts: ConnectOptions): Promise<RedisConnection> {
    const { address } = opts;
    const targets = opts.pinned && opts.pinned.length > 0 ? opts.pinned : [address.host];
    let last: Error | undefined;
    for (const target of targets) {
      let socket: net.Socket;
      try {
        socket = await openSocket(address, target, opts.deadlineAt, opts.ca);
      } catch (err) {
        last = err as Error;
        if (err instanceof StoreError && err.reason === 'TIMEOUT') throw err;
        continue;
      }
      const conn = new RedisConnection(socket, address, opts.maxReplyBytes);
      const hello: Command[] = [];
      if (address.password !== undefined) hello.push(address.username === undefined ? ['AUTH', address.password] : ['AUTH', address.username, address.password]);
      if (address.db !== 0) hello.push(['SELECT', String(address.db)]);
      if (hello.length === 0) return conn;
      try {
        const replies = await conn.run(hello, opts.deadlineAt);
        hello.forEach((command, i) => {
          const reply = replies[i];
          if (!(reply instanceof RespError)) return;
          const what = command[0] === 'AUTH' ? 'the credentials in its URL' : `database ${address.db}`;
          throw new StoreError('UNAVAILABLE', `${address.shown} refused ${what}: ${reply.text.slice(0, 200)}`);
        });
        return conn;
      } catch (err) {
        conn.destroy();
        throw err;
      }
    }
    throw last ?? new StoreError('UNAVAILABLE', `no address to connect to for ${address.shown}`);
  }

  /** False once the connection failed or was destroyed. */
  get usable(): boolean {
    return this.failure === undefined;
  }

  /** Runs when the connection ends, however it ends (once). */
  onClose(listener: () => void): void {
    if (this.failure) listener();
    else this.closeListeners.push(listener);
  }

  /**
   * Sends the commands in one write and resolves with their replies, in order (an error reply is
   * a RespError value, not a rejection). Rejects, and destroys the connection, when `deadlineAt`
   * passes (StoreError TIMEOUT), the socket fails (StoreError UNAVAILABLE) or a reply is over the
   * cap (HostCallError LIMIT_EXCEEDED).
   */
  run(commands: readonly Command[], deadlineAt: number): Promise<RespValue[]> {
    if (this.failure) return Promise.reject(this.failure);
    const replies = commands.map(
      () =>
        new Promise<RespValue>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    const all = Promise.all(replies);
    const left = deadlineAt - Date.now();
    let timer: NodeJS.Timeout | undefined;
    if (left <= 0) {
      this.destroy(new StoreError('TIMEOUT', `${this.address.shown} did not answer in time: the call's deadline had passed before it was sent`));
      return all;
    }
    timer = setTimeout(() => this.destroy(new StoreError('TIMEOUT', `${this.address.shown} did not answer within ${left} ms`)), left);
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
    return all.finally(() => clearTimeout(timer));
  }

  /**
   * Subscriber mode (SUBSCRIBE): from now on every reply goes to `listener` as it arrives — the
   * confirmations of `send` and the messages pushed between them alike.
   */
  onPush(listener: (value: RespValue) => void): void {
    this.pushListener = listener;
  }

  /** Writes commands without waiting for their replies (subscriber mode: they arrive as pushes). */
  send(commands: readonly Command[]): void {
    if (this.failure) return;
    this.socket.write(Buffer.concat(commands.map(encodeCommand)));
  }

  /** The failure that ended the connection, once it has ended. */
  get closedBy(): Error | undefined {
    return this.failure;
  }

  /** Ends the connection; whatever waits on it fails with `reason`. */
  destroy(reason?: Error): void {
    if (this.failure) return;
    this.failure = reason ?? new StoreError('UNAVAILABLE', `connection to ${this.address.shown} was closed by Verge`);
    this.socket.destroy();
    for (const waiter of this.pending.splice(0)) waiter.reject(this.failure);
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/** A connected socket (TLS handshake done for rediss) to one address, by the deadline. */
function openSocket(address: RedisAddress, target: string, deadlineAt: number, ca: string | Buffer | undefined): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const left = deadlineAt - Date.now();
    if (left <= 0) {
      reject(new StoreError('TIMEOUT', `connecting to ${address.shown}: the call's deadline had passed`));
      return;
    }
    const socket = address.tls
      ? tls.connect({
          host: target,
          port: address.port,
          // TLS verifies the certificate against the host of the URL, whatever address was dialled.
          servername: net.isIP(address.host) === 0 ? address.host : undefined,
          checkServerIdentity: (_name, cert) => tls.checkServerIdentity(address.host, cert),
          ...(ca === undefined ? {} : { ca: [...tls.rootCertificates, ca.toString()] }),
        })
      : net.connect({ host: target, port: address.port });
    socket.setNoDelay(true);
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // onError stays attached (and does nothing now): an error before the connection's own
      // listeners are on must not be an unhandled 'error' event; the 'close' that follows it is seen.
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(socket);
    };
    const onError = (err: NodeJS.ErrnoException) => done(new StoreError('UNAVAILABLE', `cannot connect to ${address.shown}: ${describeSocketError(err)}`, { cause: err }));
    const timer = setTimeout(() => done(new StoreError('TIMEOUT', `cannot connect to ${address.shown}: no connection within ${left} ms`)), left);
    socket.once('error', onError);
    socket.once(address.tls ? 'secureConnect' : 'connect', () => done());
  });
}

export function describeSocketError(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (ECONNREFUSED): is the server running?';
    case 'ECONNRESET':
      return 'connection reset (ECONNRESET)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name could not be resolved (${err.code})`;
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `no route to the host (${err.code})`;
    default:
      return err.code ? `${err.message} (${err.code})` : err.message;
  }
}
