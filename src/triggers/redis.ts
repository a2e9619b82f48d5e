/**
 * `[[trigger.redis]]`: a component runs for each message published on a channel. The node keeps
 * one subscriber per Redis server (backends/redis/subscriber.ts), subscribed once to each channel
 * some app's serving version asks for, and follows deploys: after each one it subscribes to the
 * new channels, leaves the ones nothing wants and routes by what is serving now. So one message
 * runs each component subscribed to its channel once on this node — never twice, whatever is
 * deployed meanwhile.
 *
 * A message is dispatched through the worker pool like an HTTP request to the app's serving
 * version (the heaviest of its deployment): a fresh instance with the component's limits and
 * grants, `POST /` with the message as the body, `x-verge-trigger: redis` and
 * `x-verge-redis-channel: CHANNEL` (WAGI: HTTP_X_VERGE_REDIS_CHANNEL). An answer below 400 is
 * success; anything else is logged and counted in verge_trigger_messages_total.
 */
import { randomUUID } from 'node:crypto';
import { isVergeError } from '../errors.js';
import type { Logger } from '../telemetry/logging.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { WorkerPool } from '../dispatch/pool.js';
import type { GuestRequest } from '../dispatch/protocol.js';
import type { AppRegistry } from '../node/registry.js';
import { primary } from '../node/registry.js';
import type { RedisAddress } from '../backends/redis/address.js';
import { RedisSubscriber } from '../backends/redis/subscriber.js';
import { resolveRedisConnections } from '../capabilities/redis/connections.js';
import { REDIS_LIMITS } from '../capabilities/redis/limits.js';

export interface RedisTriggerDeps {
  registry: AppRegistry;
  pool: WorkerPool;
  logger: Logger;
  metrics: () => Metrics | undefined;
  env: NodeJS.ProcessEnv;
  envFile: string | undefined;
}

interface Route {
  app: string;
  component: string;
}

interface Server {
  subscriber: RedisSubscriber;
  shown: string;
  /** channel → the components it runs. */
  routes: Map<string, Route[]>;
}

/** `redis://host:port`, and the credentials and database: one subscriber per distinct server login. */
function serverKey(a: RedisAddress): string {
  return JSON.stringify([a.tls, a.host, a.port, a.username, a.password, a.db]);
}

export class RedisTriggers {
  private readonly servers = new Map<string, Server>();
  private closed = false;

  constructor(private readonly deps: RedisTriggerDeps) {}

  /** Subscribes to what the serving versions' triggers ask for, and to nothing else. */
  sync(): void {
    if (this.closed) return;
    const wanted = new Map<string, { address: RedisAddress; routes: Map<string, Route[]> }>();
    for (const [app, deployment] of this.deps.registry.deployments) {
      const config = primary(deployment).app;
      if (config.redisTriggers.length === 0) continue;
      let connections: ReturnType<typeof resolveRedisConnections>;
      try {
        connections = resolveRedisConnections(config, this.deps);
      } catch (err) {
        this.deps.logger.error({ app, trigger: 'redis', reason: err instanceof Error ? err.message : String(err) }, 'redis trigger not started');
        continue;
      }
      for (const t of config.redisTriggers) {
        const address = connections.get(t.connection)!.address;
        const key = serverKey(address);
        let entry = wanted.get(key);
        if (!entry) wanted.set(key, (entry = { address, routes: new Map() }));
        let routes = entry.routes.get(t.channel);
        if (!routes) entry.routes.set(t.channel, (routes = []));
        routes.push({ app, component: t.component });
      }
    }
    for (const [key, server] of this.servers) {
      if (wanted.has(key)) continue;
      server.subscriber.close();
      this.servers.delete(key);
      this.deps.logger.info({ redis: server.shown }, 'redis trigger stopped: no serving version subscribes to this server');
    }
    for (const [key, { address, routes }] of wanted) {
      let server = this.servers.get(key);
      if (!server) {
        const shown = address.shown;
        const made: Server = {
          shown,
          routes,
          subscriber: new RedisSubscriber({
            address,
            maxMessageBytes: REDIS_LIMITS.maxReplyBytes,
            onMessage: (channel, payload) => this.message(made, channel, payload),
            onState: (state, reason) => {
              const channels = [...made.routes.keys()];
              if (state === 'connected') this.deps.logger.info({ redis: shown, channels }, 'redis trigger subscribed');
              else this.deps.logger.warn({ redis: shown, channels, reason }, 'redis trigger disconnected; reconnecting (messages published meanwhile are not seen)');
            },
          }),
        };
        this.servers.set(key, (server = made));
      }
      server.routes = routes;
      server.subscriber.setChannels(new Set(routes.keys()));
    }
  }

  /** Stops every subscriber: no message is dispatched after this. */
  close(): void {
    this.closed = true;
    for (const server of this.servers.values()) server.subscriber.close();
    this.servers.clear();
  }

  private message(server: Server, channel: string, payload: Uint8Array): void {
    if (this.closed) return;
    for (const route of server.routes.get(channel) ?? []) void this.dispatch(route, channel, payload);
  }

  private async dispatch(route: Route, channel: string, payload: Uint8Array): Promise<void> {
    const { registry, pool, logger } = this.deps;
    const id = randomUUID();
    const line = { request_id: id, trigger: 'redis', app: route.app, component: route.component, channel };
    const held = registry.holdServing(route.app, route.component);
    if (!held) {
      this.count(route, 'failed');
      logger.warn(line, 'redis trigger message dropped: the component is no longer served');
      return;
    }
    const started = performance.now();
    let status: number | undefined;
    try {
      const request: GuestRequest = {
        id,
        version: held.version.key,
        component: route.component,
        method: 'POST',
        url: '/',
        scheme: 'http',
        httpVersion: '1.1',
        rawHeaders: [
          'host', 'redis-trigger',
          'content-type', 'application/octet-stream',
          'content-length', String(payload.length),
          'x-verge-trigger', 'redis',
          'x-verge-redis-channel', headerValue(channel),
        ],
        remoteAddr: '',
        serverName: 'redis-trigger',
        serverPort: '0',
        route: `redis:${channel}`,
        scriptName: '',
        pathInfo: '/',
        params: [],
        body: payload,
      };
      const outcome = await pool.run(request, held.component.limits.timeoutMs);
      const ms = Math.round((performance.now() - started) * 1000) / 1000;
      if (outcome.ok && outcome.response.status < 400) {
        status = outcome.response.status;
        this.count(route, 'ok');
        logger.info({ ...line, version: held.version.shortId, status, duration_ms: ms }, 'redis trigger message');
        return;
      }
      status = outcome.ok ? outcome.response.status : outcome.error.status;
      this.count(route, 'failed');
      const why = outcome.ok ? { status } : { status, error: outcome.error.code, reason: outcome.error.message };
      logger.warn({ ...line, version: held.version.shortId, ...why, duration_ms: ms }, 'redis trigger message failed');
    } catch (err) {
      this.count(route, 'failed');
      logger.error({ ...line, error: isVergeError(err) ? err.code : 'INTERNAL', reason: err instanceof Error ? err.message : String(err) }, 'redis trigger message failed');
    } finally {
      held.release(status, performance.now() - started);
    }
  }

  private count(route: Route, outcome: 'ok' | 'failed'): void {
    this.deps.metrics()?.triggerMessages.inc({ trigger: 'redis', app: route.app, component: route.component, outcome });
  }
}

/** A channel name as a header value: printable ASCII as it is, anything else percent-encoded. */
function headerValue(channel: string): string {
  return Array.from(Buffer.from(channel, 'utf8'), (b) => (b >= 0x20 && b < 0x7f && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}
