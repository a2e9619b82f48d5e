/**
 * A node's membership in a cluster (docs/cluster.md): it writes its heartbeat record (record.ts)
 * into the node bucket every `heartbeatMs`, lists the others for `GET /v1/cluster`, purges records
 * past the prune bound, and deletes its own record when it stops cleanly.
 *
 * The NATS client is imported here, lazily, only when a node joins a cluster. NATS down at start
 * does not stop the node: it serves locally and keeps trying to connect, waiting twice as long
 * after each failure up to BACKOFF.maxMs. Once connected the client reconnects by itself for as
 * long as the node runs, and the heartbeats resume with the connection.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { KV } from '@nats-io/kv';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { Logger } from '../telemetry/logging.js';
import type { ClusterConfig } from './options.js';
import { goneAfterMs, shouldPrune, viewOf, type NodeRecord, type NodeView } from './record.js';
import { packageVersion } from '../package-files.js';
import type { DeploymentView } from './deploy-record.js';
import { message, within } from '../backends/nats/bounded.js';
import { kvKeys } from '../backends/nats/stream-reads.js';

export const BACKOFF = Object.freeze({ firstMs: 250, maxMs: 3000 });
/** Connecting, one heartbeat write, one listing or read, the goodbye delete: each within this. */
export const CALL_TIMEOUT_MS = 2000;
/** Every this many heartbeats a node looks for records to prune. */
export const PRUNE_EVERY_BEATS = 30;

/** What the node says about itself in each heartbeat, beyond what the membership knows. */
export type SelfDescription = Omit<NodeRecord, 'id' | 'region' | 'verge_version' | 'started_at' | 'last_seen' | 'heartbeat_ms'>;

export interface ClusterStatus {
  enabled: true;
  node_id: string;
  region: string | null;
  /** The servers, without credentials. */
  servers: string;
  bucket: string;
  /** True while this node's heartbeats reach the bucket. */
  connected: boolean;
  /** Why it is not connected, when it is not. */
  last_error: string | null;
  heartbeat_ms: number;
  gone_after_ms: number;
  prune_after_ms: number;
  nodes: NodeView[];
  replication: string;
  /** Where this node stands with each app's cluster deployment (deploys.ts). */
  deployments: DeploymentView[];
}

export interface ClusterMember {
  status(): Promise<ClusterStatus>;
  /** Stops the heartbeats and deletes this node's record (bounded), then closes the connection. */
  close(): Promise<void>;
}

function vergeVersion(): string {
  try {
    return packageVersion();
  } catch {
    return 'unknown';
  }
}

/** `onConnect` is given the connection once it is up (deploys.ts shares it). */
export function joinCluster(config: ClusterConfig, describe: () => SelfDescription, logger: Logger, onConnect?: (nc: NatsConnection) => void): ClusterMember {
  const startedAt = new Date().toISOString();
  const version = vergeVersion();
  const log = { cluster: config.address.shown, node_id: config.nodeId };
  let nc: NatsConnection | undefined;
  let kv: KV | undefined;
  let jsm: JetStreamManager | undefined;
  let connected = false;
  let lastError: string | null = 'connecting';
  let closed = false;
  let beating: Promise<void> | undefined;
  let beats = 0;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const nats = import('../backends/nats/client.js');

  const setError = (why: string) => {
    if (connected || lastError !== why) logger.warn({ ...log, reason: why }, 'cluster: not connected; serving locally and retrying');
    connected = false;
    lastError = why;
  };

  async function bucket(): Promise<KV> {
    if (kv) return kv;
    const { jetstream, Kvm } = await nats;
    kv = await new Kvm(jetstream(nc!, { timeout: CALL_TIMEOUT_MS })).create(config.bucket, { replicas: config.replicas, history: 1 });
    return kv;
  }

  /** For listing the bucket without a consumer (backends/nats/stream-reads.ts); no request of its own. */
  async function manager(): Promise<JetStreamManager> {
    const { jetstreamManager } = await nats;
    return (jsm ??= await jetstreamManager(nc!, { timeout: CALL_TIMEOUT_MS, checkAPI: false }));
  }

  async function beat(): Promise<void> {
    if (!nc || closed) return;
    const record: NodeRecord = {
      id: config.nodeId,
      region: config.region ?? null,
      verge_version: version,
      started_at: startedAt,
      last_seen: new Date().toISOString(),
      heartbeat_ms: config.heartbeatMs,
      ...describe(),
    };
    try {
      await within((await bucket()).put(config.nodeId, JSON.stringify(record)), CALL_TIMEOUT_MS, 'heartbeat');
      if (!connected) logger.info(log, 'cluster: joined; heartbeats written');
      connected = true;
      lastError = null;
    } catch (err) {
      // The bucket may be gone with a server's store: made again at the next beat.
      kv = undefined;
      setError(`heartbeat failed: ${message(err)}`);
      return;
    }
    if (++beats % PRUNE_EVERY_BEATS === 1) await prune().catch((err) => logger.debug({ ...log, reason: message(err) }, 'cluster: prune failed'));
  }

  const beatOnce = () => (beating ??= beat().finally(() => (beating = undefined)));

  async function read(): Promise<Array<{ view: NodeView; revision: number }>> {
    const b = await bucket();
    const keys = await kvKeys(await manager(), config.bucket);
    const now = Date.now();
    const out: Array<{ view: NodeView; revision: number }> = [];
    for (const k of keys) {
      const e = await b.get(k);
      if (!e || e.operation !== 'PUT') continue;
      const view = viewOf(e.value, e.created, now);
      if (view) out.push({ view, revision: e.revision });
    }
    return out.sort((a, b) => a.view.id.localeCompare(b.view.id));
  }

  /** Purges records past the bound, each at the revision read: a node that wrote since keeps its record. */
  async function prune(): Promise<void> {
    const b = await bucket();
    for (const { view, revision } of await within(read(), CALL_TIMEOUT_MS, 'listing nodes')) {
      if (!shouldPrune(view.age_ms, config.pruneAfterMs) || view.id === config.nodeId) continue;
      await b.purge(view.id, { previousSeq: revision }).then(
        () => logger.info({ ...log, pruned: view.id, age_ms: view.age_ms }, 'cluster: pruned the record of a long-gone node'),
        () => undefined,
      );
    }
  }

  async function connectLoop(): Promise<void> {
    const { connect, credsAuthenticator } = await nats;
    let wait: number = BACKOFF.firstMs;
    while (!closed) {
      try {
        const { address } = config;
        nc = await connect({
          servers: address.servers,
          user: address.user,
          pass: address.pass,
          token: address.token,
          authenticator: config.creds ? credsAuthenticator(config.creds) : undefined,
          tls: address.tls ? {} : undefined,
          timeout: CALL_TIMEOUT_MS,
          name: `verge ${config.nodeId}`,
          // Ours for the node's life: reconnect for as long as it runs.
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          pingInterval: 5000,
          maxPingOut: 2,
        });
        break;
      } catch (err) {
        setError(`cannot connect to NATS at ${config.address.shown}: ${message(err)}`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, wait).unref();
        });
        wait = Math.min(wait * 2, BACKOFF.maxMs);
      }
    }
    const conn = nc;
    if (!conn) return;
    if (closed) return void (await conn.close());
    onConnect?.(conn);
    void (async () => {
      for await (const s of conn.status()) {
        if (s.type === 'disconnect') setError(`disconnected from NATS at ${config.address.shown}; the client is reconnecting`);
        else if (s.type === 'reconnect') void beatOnce();
      }
    })().catch(() => {});
    await beatOnce();
    timer = setInterval(() => void beatOnce(), config.heartbeatMs);
  }

  const running = connectLoop().catch((err) => setError(`cluster client failed: ${message(err)}`));

  return {
    async status() {
      const base: ClusterStatus = {
        enabled: true,
        node_id: config.nodeId,
        region: config.region ?? null,
        servers: config.address.shown,
        bucket: config.bucket,
        connected,
        last_error: lastError,
        heartbeat_ms: config.heartbeatMs,
        gone_after_ms: goneAfterMs(config.heartbeatMs),
        prune_after_ms: config.pruneAfterMs,
        nodes: [],
        replication: 'n/a: this node does not replicate deploys',
        deployments: [],
      };
      if (!connected || !nc) return base;
      try {
        return { ...base, nodes: (await within(read(), CALL_TIMEOUT_MS, 'listing nodes')).map((r) => r.view) };
      } catch (err) {
        return { ...base, last_error: `cannot list the nodes: ${message(err)}` };
      }
    },
    async close() {
      closed = true;
      clearInterval(timer);
      wake?.();
      await running;
      await beating;
      if (nc && connected) {
        await within((async () => (await bucket()).delete(config.nodeId))(), CALL_TIMEOUT_MS, 'removing this node').then(
          () => logger.info(log, 'cluster: left; this node\'s record is deleted'),
          (err) => logger.warn({ ...log, reason: message(err) }, 'cluster: could not delete this node\'s record; it turns gone after the bound'),
        );
      }
      await nc?.drain().catch(() => nc?.close());
    },
  };
}
