/**
 * Connections for outbound calls. Every client is pinned: its sockets can reach only the
 * addresses the hop's checks produced. Pooled clients are shared only between calls with the
 * same origin, the same checked addresses and the same connect timeout, so one component's
 * outbound_timeout_ms never applies to another component's calls.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import { Client, Pool, buildConnector } from 'undici';
import { ipLiteral } from './address.js';
import type { ConnectTarget, OutboundContext } from './fetch.js';
import type { OutboundLimits } from './limits.js';

/**
 * Connections are reused only between calls whose checks produced the same origin and the same
 * set of checked addresses, and whose limits give the same connect timeout: a pooled Client's connector can reach nothing else, so reuse keeps
 * the pinning (a host whose DNS answer changes gets a new Client). Contexts with an `onConnect`
 * hook or extra CAs (tests, audits) always get a fresh Client.
 */
const POOL_MAX_ORIGINS = 256;
const POOL_CONNECTIONS_PER_ORIGIN = 32;
const pool = new Map<string, Pool>();

export function pooledClient(url: URL, addresses: LookupAddress[], ctx: OutboundContext, limits: OutboundLimits): Pool | undefined {
  if (ctx.onConnect || ctx.ca !== undefined) return undefined;
  // The connect timeout is baked into the pooled client: it is part of what must match.
  const key = `${url.origin}|${addresses.map((a) => a.address).sort().join(',')}|${limits.timeoutMs}`;
  let client = pool.get(key);
  if (client && (client.closed || client.destroyed)) {
    pool.delete(key);
    client = undefined;
  }
  if (client) {
    // Most recently used last, so the first entry is the one to evict.
    pool.delete(key);
    pool.set(key, client);
    return client;
  }
  client = new Pool(url.origin, { ...pinnedOptions(url, addresses, ctx, limits.timeoutMs), connections: POOL_CONNECTIONS_PER_ORIGIN });
  pool.set(key, client);
  if (pool.size > POOL_MAX_ORIGINS) {
    const [oldestKey, oldest] = pool.entries().next().value as [string, Pool];
    pool.delete(oldestKey);
    oldest.close().catch(() => {});
  }
  return client;
}

/** Closes every pooled connection (the node is stopping). */
export async function closeOutboundPool(): Promise<void> {
  const clients = [...pool.values()];
  pool.clear();
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}

/**
 * A Client for one hop whose sockets can only reach `addresses`: the connector's lookup answers
 * with them (and nothing else) when Node's socket resolves the host name. With an IP-literal
 * host, Node does not look anything up: the literal is the checked address.
 */
export function pinnedClient(url: URL, addresses: LookupAddress[], ctx: OutboundContext, timeoutMs: number): Client {
  return new Client(url.origin, pinnedOptions(url, addresses, ctx, timeoutMs));
}

function pinnedOptions(url: URL, addresses: LookupAddress[], ctx: OutboundContext, timeoutMs: number): Client.Options {
  const protocol = url.protocol as 'http:' | 'https:';
  const port = url.port === '' ? (protocol === 'https:' ? 443 : 80) : Number(url.port);
  const hostname = ipLiteral(url.hostname) ?? url.hostname;
  const target: ConnectTarget = Object.freeze({ protocol, hostname, port, addresses: Object.freeze(addresses.map((a) => a.address)) });

  const lookup: LookupFunction = (name: string, options: LookupOptions, callback) => {
    process.nextTick(() => {
      if (name.toLowerCase() !== hostname.toLowerCase()) {
        callback(Object.assign(new Error(`refusing to resolve ${name}: the connection is pinned to ${hostname}`), { code: 'EPINNED' }), '', 0);
        return;
      }
      try {
        ctx.onConnect?.(target);
      } catch (err) {
        callback(err as NodeJS.ErrnoException, '', 0);
        return;
      }
      const family = options.family === 4 || options.family === 6 ? options.family : 0;
      const usable = family === 0 ? addresses : addresses.filter((a) => a.family === family);
      if (options.all) callback(null, usable);
      else if (usable[0]) callback(null, usable[0].address, usable[0].family);
      else callback(Object.assign(new Error(`${hostname} has no IPv${family} address`), { code: 'ENOTFOUND' }), '', 0);
    });
  };

  const extraCa = ctx.ca === undefined ? undefined : typeof ctx.ca === 'string' ? [ctx.ca] : [...ctx.ca];
  const connector = buildConnector({
    timeout: timeoutMs,
    lookup,
    ...(extraCa ? { ca: [...rootCertificates, ...extraCa] } : {}),
  } as buildConnector.BuildOptions);
  const literal = ipLiteral(url.hostname) !== undefined;

  return {
    connect: (opts, callback) => {
      if (literal && ctx.onConnect) {
        try {
          ctx.onConnect(target);
        } catch (err) {
          callback(err as Error, null);
          return;
        }
      }
      connector(opts, callback);
    },
    // The call's own deadline (an AbortSignal) bounds the whole exchange.
    headersTimeout: 0,
    bodyTimeout: 0,
    pipelining: 1,
  };
}
