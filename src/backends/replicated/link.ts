/**
 * A replica's link to JetStream: it sends the replica's queued changes out and applies the
 * stream's changes in, from the sequence it applied last. The link is the only part that needs
 * NATS; the replica serves without it. The NATS client is imported when the link starts.
 *
 * Everything resumes from state, never from an in-memory event: the outbox (what is not yet
 * acknowledged) and the cursor (what is applied) are in the replica file, so a lost connection,
 * a consumer that ended or a restarted node all pick up where the file says. Each failure waits a
 * little longer before the next try (BACKOFF), and the NATS client itself reconnects for as long
 * as the store is open.
 */
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { NatsAddress } from '../nats/address.js';
import { message, within } from '../nats/bounded.js';
import type { Replica } from './replica.js';
import { decodeChange, keySubjects } from './wire.js';

export const BACKOFF = Object.freeze({ firstMs: 100, maxMs: 2000 });
/** Changes sent per batch, and messages applied per transaction. */
const BATCH = 256;
/** How often the link checks that the stream it reads is still the one it adopted. */
const WATCH_MS = 2000;
/**
 * A pull for the stream's messages lasts this long (its idle heartbeat half as long). nats.js
 * notices a pull the server dropped (a 409, a consumer's leader that moved) only after two missed
 * heartbeats: with its default of 30 s, a node once sat 30 s with three messages pending.
 */
const PULL_EXPIRES_MS = 5000;
/** Messages read but not yet applied are applied once none has come for this long. */
const APPLY_IDLE_MS = 50;
/**
 * Reading or writing the stream's id waits this long at most. A call to a stream just made, whose
 * leader is not elected yet, gets no answer at all: with the store's timeout (5 s), of three nodes
 * starting together some began reading 5 s after the first. A failure costs a retry, soon after.
 */
const ID_CALL_MS = 1000;

export interface LinkOptions {
  address: NatsAddress;
  stream: string;
  subjectPrefix: string;
  replicas: number;
  timeoutMs: number;
  tombstoneRetentionMs: number;
}

export interface LinkStatus {
  connected: boolean;
  /** Why the link is not working, when it is not. */
  lastError: string | null;
  /** Messages in the stream this replica has not applied yet, as of the last one it read. */
  inboundPending: number;
  /** When the replica last had every message of the stream applied (epoch ms), if ever since the link started. */
  caughtUpAt: number | undefined;
  /** Messages read since the link started. */
  received: number;
}

export interface Link {
  status(): LinkStatus;
  /** A change was queued: send it now rather than at the next poll. */
  poke(): void;
  close(): Promise<void>;
}

export function startLink(replica: Replica, options: LinkOptions): Link {
  let closed = false;
  let nc: NatsConnection | undefined;
  let connected = false;
  let lastError: string | null = 'connecting';
  let inboundPending = 0;
  let caughtUpAt: number | undefined;
  let received = 0;
  const sleepers = new Set<() => void>();
  let poked: (() => void) | undefined;

  const fail = (why: string) => {
    lastError = why;
  };
  /** Waits `ms`, or less if the link closes (or, for the sender, a change is queued). */
  const sleep = (ms: number, wakeOnPoke = false) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sleepers.delete(done);
        if (poked === done) poked = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
      if (wakeOnPoke) poked = done;
    });

  async function connectOnce(): Promise<{ nc: NatsConnection; js: JetStreamClient; jsm: JetStreamManager }> {
    const { connect, jetstream, jetstreamManager } = await import('../nats/client.js');
    const { address } = options;
    let wait: number = BACKOFF.firstMs;
    while (!closed) {
      try {
        const conn = await connect({
          servers: address.servers,
          user: address.user,
          pass: address.pass,
          token: address.token,
          tls: address.tls ? {} : undefined,
          timeout: options.timeoutMs,
          name: `verge replicated ${options.stream}`,
          // The link lives as long as the store: reconnect for as long as it takes.
          maxReconnectAttempts: -1,
          // The servers named in the URL only, not the addresses the cluster advertises: an edge
          // site often reaches NATS through one gateway or proxy and cannot route to the others.
          ignoreClusterUpdates: true,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
          pingInterval: 2000,
          maxPingOut: 2,
        });
        if (closed) {
          // Closed while connecting: nobody else would close this connection.
          await conn.close();
          break;
        }
        nc = conn;
        connected = true;
        void (async () => {
          for await (const s of conn.status()) {
            if (s.type === 'disconnect') {
              connected = false;
              fail(`disconnected from NATS at ${address.shown}; reconnecting`);
            } else if (s.type === 'reconnect') {
              connected = true;
              lastError = null;
              // Start reading again from the replica's cursor rather than trust a consumer that
              // lived through the outage (its server may have lost it).
              stopReceiving?.();
              for (const wake of [...sleepers]) wake();
            }
          }
        })().catch(() => {});
        const jsm = await jetstreamManager(conn, { timeout: options.timeoutMs });
        return { nc: conn, js: jetstream(conn, { timeout: options.timeoutMs }), jsm };
      } catch (err) {
        fail(`cannot connect to NATS at ${address.shown}: ${message(err)}`);
        await sleep(wait);
        wait = Math.min(wait * 2, BACKOFF.maxMs);
      }
    }
    throw new Error('closed');
  }

  async function ensureStream(jsm: JetStreamManager): Promise<void> {
    const subjects = [`${options.subjectPrefix}.>`];
    try {
      const info = await jsm.streams.info(options.stream);
      if (info.config.num_replicas !== options.replicas) {
        throw new Error(`stream ${options.stream} exists with ${info.config.num_replicas} replica(s), the manifest asks for ${options.replicas}`);
      }
      return;
    } catch (err) {
      if (!/not found/i.test(message(err))) throw err;
    }
    await jsm.streams.add({
      name: options.stream,
      subjects,
      // The last message per subject is a replica's whole state for a key (wire.ts).
      max_msgs_per_subject: 1,
      num_replicas: options.replicas,
      storage: 'file' as never,
      allow_direct: false,
    });
  }

  /**
   * Runs `task` until the link closes (or, with `once`, until it succeeds), waiting longer after
   * each failure in a row.
   */
  async function forever(what: string, task: () => Promise<void>, once = false): Promise<void> {
    let wait: number = BACKOFF.firstMs;
    while (!closed) {
      try {
        await task();
        if (once) return;
        wait = BACKOFF.firstMs;
      } catch (err) {
        if (closed) return;
        fail(`${what}: ${message(err)}`);
        await sleep(wait);
        wait = Math.min(wait * 2, BACKOFF.maxMs);
      }
    }
  }

  async function send(js: JetStreamClient): Promise<void> {
    const batch = replica.queued(BATCH);
    if (batch.length === 0) {
      await sleep(1000, true);
      return;
    }
    for (const q of batch) {
      if (closed) return;
      // The id makes a publish retried after a lost acknowledgement count once.
      await js.publish(q.subject, q.body, { msgID: `${replica.id}:${q.seq}`, timeout: options.timeoutMs });
      replica.sent(q.seq);
    }
    lastError = null;
  }

  async function receive(js: JetStreamClient, jsm: JetStreamManager): Promise<void> {
    // Made again if it was deleted; read from the start if it is not the stream read last.
    await ensureStream(jsm);
    replica.adoptStream(await streamId(js, jsm));
    const from = replica.stats().cursor;
    const consumer = await js.consumers.get(options.stream, {
      filter_subjects: `${options.subjectPrefix}.>`,
      ...(from === 0 ? { deliver_policy: 'all' as never } : { deliver_policy: 'by_start_sequence' as never, opt_start_seq: from + 1 }),
    });
    const messages = await consumer.consume({ max_messages: BATCH, expires: PULL_EXPIRES_MS });
    stopReceiving = () => messages.stop();
    if (closed) messages.stop();
    let batch: Array<{ change: NonNullable<ReturnType<typeof decodeChange>>; seq: number }> = [];
    let cursor = from;
    let applied = from;
    let idle: NodeJS.Timeout | undefined;
    const flush = () => {
      clearTimeout(idle);
      idle = undefined;
      replica.applyRemote(batch, cursor);
      applied = cursor;
      batch = [];
    };
    try {
      for await (const m of messages) {
        const change = decodeChange(m.data);
        cursor = m.seq;
        received++;
        if (change) batch.push({ change, seq: m.seq });
        inboundPending = m.info.pending;
        if (inboundPending === 0 || batch.length >= BATCH) {
          flush();
          if (inboundPending === 0) caughtUpAt = Date.now();
        } else {
          // More are pending, but they may be slow to come: what was read is not held for them.
          idle ??= setTimeout(() => {
            try {
              flush();
            } catch (err) {
              // The loop's own flush, at the next message or at its end, tries again.
              fail(`applying the stream's messages: ${message(err)}`);
            }
          }, APPLY_IDLE_MS);
        }
        lastError = null;
      }
    } finally {
      if (batch.length > 0 || cursor !== applied) flush();
      clearTimeout(idle);
    }
    if (!closed) throw new Error('the stream consumer ended');
  }
  let stopReceiving: (() => void) | undefined;

  async function expire(jsm: JetStreamManager): Promise<void> {
    await sleep(Math.min(60_000, Math.max(1000, options.tombstoneRetentionMs / 10)));
    if (closed) return;
    const keys = replica.expireTombstones(Date.now(), options.tombstoneRetentionMs);
    const upTo = replica.stats().cursor + 1;
    // Only what this replica has applied: a newer write of the key, not read here yet, stays.
    for (const key of keys) await jsm.streams.purge(options.stream, { filter: keySubjects(options.subjectPrefix, key), seq: upTo });
  }

  const idSubject = `${options.subjectPrefix}.id`;
  const readId = (jsm: JetStreamManager) =>
    within(jsm.streams.getMessage(options.stream, { last_by_subj: idSubject }), Math.min(ID_CALL_MS, options.timeoutMs), 'reading the stream\'s id').then(
      (m) => (m ? new TextDecoder().decode(m.data) : undefined),
      () => undefined,
    );

  /**
   * The stream's identity: a random id in the stream itself, written once by whichever node
   * gets there first (a publish that expects the subject to be empty). A stream made again has
   * another. Not the stream's creation time, which the servers of a cluster need not agree on.
   */
  async function streamId(js: JetStreamClient, jsm: JetStreamManager): Promise<string> {
    let id = await readId(jsm);
    if (id === undefined) {
      await js.publish(idSubject, randomBytes(8).toString('hex'), { expect: { lastSubjectSequence: 0 }, timeout: Math.min(ID_CALL_MS, options.timeoutMs) }).catch(() => {});
      id = await readId(jsm);
    }
    if (id === undefined) throw new Error(`stream ${options.stream} has no id yet`);
    return id;
  }

  /**
   * A consumer of a deleted stream does not always end: every few seconds, the stream's identity
   * is checked, and a stream made again restarts the reading (which adopts it).
   */
  async function watch(jsm: JetStreamManager): Promise<void> {
    await sleep(WATCH_MS);
    if (closed) return;
    const known = replica.stats().streamCreated;
    const info = await jsm.streams.info(options.stream).catch(() => undefined);
    // Gone, or there with another id: read it afresh. A missing id (just made) is left to the reader.
    const id = info ? await readId(jsm) : undefined;
    if (known !== undefined && (info === undefined || (id !== undefined && id !== known))) stopReceiving?.();
  }

  const running = (async () => {
    let link: Awaited<ReturnType<typeof connectOnce>>;
    try {
      link = await connectOnce();
    } catch {
      return;
    }
    await Promise.all([
      forever('sending changes', () => send(link.js)),
      forever('reading the stream', () => receive(link.js, link.jsm)),
      forever('expiring tombstones', () => expire(link.jsm)),
      forever('watching the stream', () => watch(link.jsm)),
    ]);
  })();

  return {
    status: () => ({ connected, lastError: connected ? lastError : lastError ?? 'not connected', inboundPending, caughtUpAt, received }),
    poke: () => poked?.(),
    async close() {
      closed = true;
      stopReceiving?.();
      for (const wake of [...sleepers]) wake();
      await nc?.drain().catch(() => nc?.close());
      await running.catch(() => {});
      // A connection made while closing was closed where it was made; this catches any other.
      if (nc && !nc.isClosed()) await nc.close();
    },
  };
}
