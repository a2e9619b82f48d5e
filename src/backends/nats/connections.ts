/**
 * One NATS connection per server address, shared by every `nats` store that names it (several
 * stores, several apps, every version of an app), counted by reference and drained when the last
 * store closes.
 *
 * A connection is opened on first use, not at load, so a node whose NATS is down still starts and
 * its stores answer UNAVAILABLE until it is back. Reconnecting is bounded: the client retries for
 * about RECONNECT.attempts × RECONNECT.waitMs, then gives up and closes; the next call opens a
 * fresh connection. While the client is disconnected a call fails at once with UNAVAILABLE rather
 * than being buffered and sent after a reconnect the caller no longer waits for.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NatsAddress } from './address.js';

export const RECONNECT = Object.freeze({ attempts: 20, waitMs: 500, jitterMs: 200 });

export interface SharedConnection {
  /** The connected client, connecting (again) first if needed, within `deadlineAt`. */
  get(deadlineAt: number): Promise<NatsConnection>;
  /** Drops this store's reference; the last one drains the connection. */
  release(): Promise<void>;
}

interface Entry {
  refs: number;
  address: NatsAddress;
  connecting: Promise<NatsConnection> | undefined;
  current: NatsConnection | undefined;
  /** False from a disconnect until the client reconnects. */
  up: boolean;
}

const entries = new Map<string, Entry>();

export class NatsUnavailable extends Error {}

async function open(entry: Entry, deadlineAt: number): Promise<NatsConnection> {
  const { address } = entry;
  const timeout = Math.max(1, deadlineAt - Date.now());
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: address.servers,
      user: address.user,
      pass: address.pass,
      token: address.token,
      tls: address.tls ? {} : undefined,
      timeout,
      name: 'verge',
      maxReconnectAttempts: RECONNECT.attempts,
      reconnectTimeWait: RECONNECT.waitMs,
      reconnectJitter: RECONNECT.jitterMs,
      pingInterval: 10_000,
      maxPingOut: 2,
    });
  } catch (err) {
    throw new NatsUnavailable(`cannot connect to NATS at ${address.shown}: ${(err as Error).message}`, { cause: err });
  }
  entry.current = nc;
  entry.up = true;
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') entry.up = false;
      else if (s.type === 'reconnect') entry.up = true;
    }
  })().catch(() => {});
  void nc.closed().then(() => {
    if (entry.current === nc) entry.current = undefined;
  });
  return nc;
}

/** The connection to `address` (its `key` holds the credentials, so two users never share one). */
export function sharedConnection(address: NatsAddress): SharedConnection {
  let entry = entries.get(address.key);
  if (!entry) {
    entry = { refs: 0, address, connecting: undefined, current: undefined, up: false };
    entries.set(address.key, entry);
  }
  const e = entry;
  e.refs++;
  let released = false;
  return {
    async get(deadlineAt) {
      if (e.current && !e.current.isClosed()) {
        if (!e.up) throw new NatsUnavailable(`NATS at ${address.shown} is disconnected; the client is reconnecting`);
        return e.current;
      }
      e.connecting ??= open(e, deadlineAt).finally(() => (e.connecting = undefined));
      return e.connecting;
    },
    async release() {
      if (released) return;
      released = true;
      if (--e.refs > 0) return;
      entries.delete(address.key);
      const nc = e.current ?? (await e.connecting?.catch(() => undefined));
      e.current = undefined;
      await nc?.drain().catch(() => nc.close());
    },
  };
}
