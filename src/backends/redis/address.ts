/**
 * Redis addresses: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS. The
 * password never reaches a message or a log: everything Verge says about an address shows only
 * `scheme://host:port` (`shown`).
 */
import { isIPv6 } from 'node:net';

export const REDIS_DEFAULT_PORT = 6379;

export interface RedisAddress {
  readonly tls: boolean;
  /** The host as written (lower case; an IPv6 address without brackets): what TLS verifies. */
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly db: number;
  /** `redis://host:port`: what messages and logs show, never the credentials. */
  readonly shown: string;
  /** The address as a URL, for the allow-list (policy.ts matches scheme, host and port). */
  readonly url: URL;
}

const EXPECTED = 'a Redis URL like "redis://host:6379", "rediss://host:6380" or "redis://:password@host:6379/0"';

/** The address, or a phrase saying what was expected (to follow "expected "), never echoing a password. */
export function parseRedisAddress(text: string): RedisAddress | string {
  if (/[\s\x00-\x1f\x7f]/.test(text)) return `${EXPECTED}, with no spaces or control characters`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const port = /^[a-z]+:\/\/[^/?#]*:([0-9]+)(?:[/?#]|$)/i.exec(text);
    if (port && Number(port[1]) > 65535) return `${EXPECTED}, with a port from 1 to 65535`;
    return EXPECTED;
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'redis' && scheme !== 'rediss') return `${EXPECTED} (the scheme must be redis or rediss)`;
  if (url.search !== '' || url.hash !== '' || text.includes('?') || text.includes('#')) return `${EXPECTED}, with no query or fragment`;
  let host = url.hostname.toLowerCase();
  if (host === '') return `${EXPECTED}, with a host`;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!isIPv6(host) || host.includes('%')) return `${EXPECTED}, with an IPv6 host in brackets like "redis://[::1]:6379"`;
  } else if (!/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/.test(host)) {
    return `${EXPECTED}, with a host that is a DNS name or an IP address`;
  }
  let port = REDIS_DEFAULT_PORT;
  if (url.port !== '') {
    port = Number(url.port);
    if (!(port >= 1 && port <= 65535)) return `${EXPECTED}, with a port from 1 to 65535`;
  }
  let db = 0;
  if (url.pathname !== '' && url.pathname !== '/') {
    const m = /^\/(0|[1-9][0-9]{0,8})$/.exec(url.pathname);
    if (!m) return `${EXPECTED}, with a database number as the only path ("/0")`;
    db = Number(m[1]);
  }
  let username: string | undefined;
  let password: string | undefined;
  try {
    username = url.username === '' ? undefined : decodeURIComponent(url.username);
    password = url.password === '' ? undefined : decodeURIComponent(url.password);
  } catch {
    return `${EXPECTED}, with user information that is valid percent-encoding`;
  }
  if (username !== undefined && password === undefined) return `${EXPECTED}: a user name needs a password ("redis://user:password@host")`;
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const shown = `${scheme}://${hostPart}:${port}`;
  // The allow-list sees scheme, host and port only.
  return Object.freeze({ tls: scheme === 'rediss', host, port, username, password, db, shown, url: new URL(`${scheme}://${hostPart}:${port}`) });
}

/** What to say about an address that did not parse: its scheme and host at most, never user info. */
export function describeAddress(text: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/?#]*@)?([^/?#]*)/i.exec(text);
  if (!m) return 'an address that is not a URL';
  return `${m[1]!.toLowerCase()}://${m[2]!.slice(0, 100)}`;
}
