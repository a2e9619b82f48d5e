/**
 * A `nats` store's `url`: one server or a comma-separated list of a cluster's servers, each
 * `nats://` (TLS if the server requires it) or `tls://` (TLS always), port 4222 unless named.
 * Credentials ride in the URL as in the NATS tools: `nats://user:password@host` or
 * `nats://token@host`, usually as `{{ variable }}` references filled in from secret variables.
 * `shown` names the servers without the credentials, for messages and logs.
 */
export interface NatsAddress {
  /** `host:port` of each server. */
  servers: string[];
  tls: boolean;
  user: string | undefined;
  pass: string | undefined;
  token: string | undefined;
  /** The servers, for messages: never the credentials. */
  shown: string;
  /** Identifies a connection: the same servers with other credentials are another connection. */
  key: string;
}

const EXPECTED = 'a NATS URL such as "nats://127.0.0.1:4222", "tls://user:{{ nats_password }}@nats.internal:4222" or a comma-separated list of a cluster\'s servers';

/** The address, or a phrase saying what is wrong (to follow "expected "); the phrase never repeats the URL. */
export function parseNatsAddress(text: string): NatsAddress | string {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) return EXPECTED;
  const servers: string[] = [];
  let tls = false;
  let credentials: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  for (const part of parts) {
    let url: URL;
    try {
      url = new URL(part);
    } catch {
      return EXPECTED;
    }
    if (url.protocol !== 'nats:' && url.protocol !== 'tls:') return `${EXPECTED} (a nats:// or tls:// URL, not ${url.protocol}//)`;
    if (url.hostname === '' || (url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') return `${EXPECTED} (a host and port, with no path or query)`;
    if (url.protocol === 'tls:') tls = true;
    const these = url.username === '' ? undefined : `${url.username}:${url.password}`;
    if (these !== undefined) {
      if (credentials !== undefined && credentials !== these) return `${EXPECTED} (one set of credentials for every server)`;
      credentials = these;
      user = decodeURIComponent(url.username);
      pass = url.password === '' ? undefined : decodeURIComponent(url.password);
    }
    servers.push(`${url.hostname}:${url.port || '4222'}`);
  }
  // A user with no password is a token, as in the NATS tools.
  const token = user !== undefined && pass === undefined ? user : undefined;
  if (token !== undefined) user = undefined;
  const shown = servers.map((s) => `${tls ? 'tls' : 'nats'}://${s}`).join(',');
  return { servers, tls, user, pass, token, shown, key: JSON.stringify([servers, tls, user, pass, token]) };
}
