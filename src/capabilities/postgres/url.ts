/**
 * `postgres://user:password@host:port/database?sslmode=...`: the one address form Verge reads,
 * for a named database's `url` and for an address a guest names. The password never appears in
 * a message: `shown` is the address without user info, what logs and errors name.
 */

/** `disable`: plain TCP. Every other mode: TLS, with the certificate and the host name verified. */
export type PgTls = 'disable' | 'verify';

export interface PgAddress {
  /** The host as a URL gives it (lower case, IPv6 in brackets), for the allow-list and DNS. */
  hostname: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  tls: PgTls;
  /** `postgres://host:port/database`: what messages name (no user info). */
  shown: string;
  /** Everything that makes two sessions interchangeable: the pool key. */
  key: string;
}

const SSL_MODES: Readonly<Record<string, PgTls>> = { disable: 'disable', require: 'verify', 'verify-ca': 'verify', 'verify-full': 'verify' };
export const DEFAULT_PORT = 5432;

/**
 * The address, or what is wrong with it as a phrase to follow "expected" — never quoting the
 * text, which holds the password.
 */
export function parsePgUrl(text: string): PgAddress | string {
  const scheme = /^(postgres|postgresql):\/\//i.exec(text);
  if (!scheme) return 'a postgres:// URL (postgres://user:password@host:5432/database)';
  if (/[\s\x00-\x1f\x7f]/.test(text)) return 'a postgres:// URL without spaces or control characters';
  let raw: URL;
  let norm: URL;
  try {
    // Non-special scheme: the port as written (an http URL would drop ":80"). As http: the host
    // normalised the way the allow-list and DNS see it (case, IPv4 forms, IDNA, IPv6).
    raw = new URL(text);
    norm = new URL(`http://${text.slice(scheme[0].length)}`);
  } catch {
    return 'a postgres:// URL that parses (percent-encode reserved characters in the user name and password)';
  }
  if (norm.hostname === '' || raw.host === '') return 'a postgres:// URL with a host';
  if (raw.host.includes(',')) return 'a postgres:// URL with one host (Verge does not try several)';
  let port = DEFAULT_PORT;
  if (raw.port !== '') {
    port = Number(raw.port);
    if (!(port >= 1 && port <= 65535)) return 'a postgres:// URL with a port from 1 to 65535';
  }
  let user: string;
  let password: string | undefined;
  let database: string;
  try {
    user = decodeURIComponent(raw.username);
    password = raw.password === '' ? undefined : decodeURIComponent(raw.password);
    database = decodeURIComponent(raw.pathname.replace(/^\//, ''));
  } catch {
    return 'a postgres:// URL whose percent-escapes decode to UTF-8';
  }
  if (user === '') return 'a postgres:// URL with a user name (postgres://user@host/database)';
  if (database === '') database = user;
  if (database.includes('/')) return 'a postgres:// URL whose path is one database name';
  if (raw.hash !== '') return 'a postgres:// URL without a fragment';
  let tls: PgTls = 'disable';
  for (const [name, value] of raw.searchParams) {
    if (name !== 'sslmode') return `a postgres:// URL whose only query parameter is sslmode (not ${JSON.stringify(name.slice(0, 40))})`;
    const mode = Object.hasOwn(SSL_MODES, value) ? SSL_MODES[value] : undefined;
    if (mode === undefined) {
      return 'sslmode=disable, require, verify-ca or verify-full (prefer and allow may fall back to plain text, so Verge takes neither)';
    }
    tls = mode;
  }
  const hostname = norm.hostname;
  const shown = `postgres://${hostname}:${port}/${database}`;
  return { hostname, port, user, password, database, tls, shown, key: JSON.stringify([user, password ?? null, hostname, port, database, tls]) };
}

/** The URL a message may show: user info, query and fragment removed, whatever the text. */
export function redactUrl(text: string): string {
  const sep = text.indexOf('://');
  if (sep === -1) return '(not a URL)';
  const rest = text.slice(sep + 3);
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const path = end === -1 ? '' : rest.slice(end).replace(/[?#].*$/, '');
  return `${text.slice(0, sep + 3)}${authority.slice(authority.lastIndexOf('@') + 1)}${path}`.slice(0, 200);
}
