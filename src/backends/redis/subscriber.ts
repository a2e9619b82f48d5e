/**
 * A Redis pub/sub subscriber: one connection in subscriber mode, SUBSCRIBEd to a set of
 * channels, that hands each message on as it arrives. When the connection fails or the server is
 * down, it reconnects with a growing delay (100 ms doubling up to 5 s) and subscribes again.
 * Pub/sub delivers a message to the subscribers connected when it is published: what is published
 * while the subscriber reconnects is not seen, and nothing is ever delivered twice.
 */
import { RedisConnection } from './connection.js';
import type { RedisAddress } from './address.js';
import { RespError, type RespValue } from './resp.js';

export interface SubscriberOptions {
  address: RedisAddress;
  /** A message larger than this ends the connection (the subscriber reconnects without it). */
  maxMessageBytes: number;
  onMessage: (channel: string, payload: Uint8Array) => void;
  /** Connected (and subscribed), or lost with the reason; told on each change, and of the first failed attempt. */
  onState: (state: 'connected' | 'disconnected', reason?: string) => void;
}

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;
const CONNECT_TIMEOUT_MS = 5000;

const decoder = new TextDecoder();
const text = (v: RespValue | undefined): string | undefined => (v instanceof Uint8Array ? decoder.decode(v) : undefined);

export class RedisSubscriber {
  private channels = new Set<string>();
  private conn: RedisConnection | undefined;
  private retryMs = FIRST_RETRY_MS;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private connected = false;
  private reported = false;

  constructor(private readonly options: SubscriberOptions) {
    void this.connect();
  }

  /** Subscribes to the channels not yet subscribed and unsubscribes from those no longer wanted. */
  setChannels(wanted: ReadonlySet<string>): void {
    const added = [...wanted].filter((c) => !this.channels.has(c));
    const removed = [...this.channels].filter((c) => !wanted.has(c));
    this.channels = new Set(wanted);
    if (!this.conn?.usable) return; // the next connection subscribes to them all
    if (added.length > 0) this.conn.send([['SUBSCRIBE', ...added]]);
    if (removed.length > 0) this.conn.send([['UNSUBSCRIBE', ...removed]]);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.conn?.destroy();
  }

  private async connect(): Promise<void> {
    if (this.closed) return;
    let conn: RedisConnection;
    try {
      conn = await RedisConnection.connect({ address: this.options.address, deadlineAt: Date.now() + CONNECT_TIMEOUT_MS, maxReplyBytes: this.options.maxMessageBytes });
    } catch (err) {
      this.lost(err instanceof Error ? err.message : String(err));
      return;
    }
    if (this.closed) {
      conn.destroy();
      return;
    }
    this.conn = conn;
    conn.onPush((value) => this.push(value));
    conn.onClose(() => {
      if (this.conn === conn) this.conn = undefined;
      this.lost(conn.closedBy?.message ?? 'the connection closed');
    });
    if (this.channels.size > 0) conn.send([['SUBSCRIBE', ...this.channels]]);
    this.retryMs = FIRST_RETRY_MS;
    this.connected = true;
    this.reported = false;
    this.options.onState('connected');
  }

  private lost(reason: string): void {
    if (this.closed) return;
    if (this.connected || !this.reported) this.options.onState('disconnected', reason);
    this.connected = false;
    this.reported = true;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.connect(), this.retryMs);
    this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
  }

  /** `message channel payload` is handed on; subscribe confirmations need nothing. */
  private push(value: RespValue): void {
    if (value instanceof RespError) {
      this.conn?.destroy(new Error(`the server refused a subscription: ${value.text.slice(0, 200)}`));
      return;
    }
    if (!Array.isArray(value) || text(value[0]) !== 'message') return;
    const channel = text(value[1]);
    const payload = value[2];
    if (channel !== undefined && payload instanceof Uint8Array) this.options.onMessage(channel, payload);
  }
}
