/**
 * `allowed_outbound_hosts`: which URLs a component may call, in Spin's shape. The same list
 * governs every outbound protocol (HTTP here, PostgreSQL and Redis in their capabilities).
 *
 *   allowed_outbound_hosts = [
 *     "https://api.example.com",   # https, port 443 only
 *     "http://localhost:8080",
 *     "http://127.0.0.1:*",        # any port
 *     "https://*.example.com",     # any subdomain (at any depth) of example.com, not example.com itself
 *     "*://api.example.com:*",     # http or https, any port
 *     "*://*:*",                   # anything (but see "explicit" below)
 *     "postgres://db.internal",    # a PostgreSQL server a guest opens by address (port 5432)
 *     "redis://cache.internal",    # a Redis server a guest opens by address (port 6379)
 *   ]
 *
 * An entry is scheme://host[:port]: scheme `http`, `https`, `postgres`, `redis`, `rediss` or `*`;
 * host a DNS name, an IPv4 address, an [IPv6] address, `*.domain` or `*`; port a number from 1 to
 * 65535 or `*`, and when left out the default port of the request's scheme (80 for http, 443 for
 * https, 5432 for postgres, 6379 for redis and rediss). No path,
 * query, fragment or user info. An empty list allows nothing.
 *
 * A match is *explicit* when the matching entry names the host literally (no wildcard host).
 * Only an explicit match may reach loopback, private, link-local, CGNAT, unique-local or metadata
 * addresses; a wildcard never does (resolve.ts checks the resolved addresses).
 */
import { domainToASCII } from 'node:url';
import { isIPv4, isIPv6 } from 'node:net';
import { describe } from '../../manifest/fields.js';
import { INTERNAL_DOMAIN, internalTarget, isInternalHost } from '../../manifest/hosts.js';

/** The schemes an entry may name, with their default ports. */
const SCHEME_PORTS: ReadonlyMap<string, number> = new Map([['http', 80], ['https', 443], ['postgres', 5432], ['redis', 6379], ['rediss', 6379]]);
type HostRule = { kind: 'any' } | { kind: 'suffix'; suffix: string } | { kind: 'exact'; host: string };
type PortRule = number | '*' | 'default';

interface Rule {
  readonly entry: string;
  readonly scheme: string;
  readonly host: HostRule;
  readonly port: PortRule;
}

export interface PolicyMatch {
  readonly allowed: boolean;
  /** The matching entry names this host literally (no wildcard host). */
  readonly explicit: boolean;
}

const EXPECTED = 'scheme://host[:port]';
const EXAMPLE = '(for example "https://api.example.com" or "http://127.0.0.1:*")';
const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;

export class OutboundPolicy {
  /** The manifest entries, as written. */
  readonly entries: readonly string[];
  private readonly rules: readonly Rule[];

  /** Use parseAllowedHosts or createOutboundPolicy. */
  private constructor(rules: readonly Rule[]) {
    this.rules = Object.freeze([...rules]);
    this.entries = Object.freeze(rules.map((r) => r.entry));
    Object.freeze(this);
  }

  /** @internal */
  static fromRules(rules: readonly Rule[]): OutboundPolicy {
    return new OutboundPolicy(rules);
  }

  /** Allows nothing (a component without allowed_outbound_hosts). */
  static readonly denyAll: OutboundPolicy = new OutboundPolicy([]);

  matches(url: URL): PolicyMatch {
    const scheme = url.protocol.slice(0, -1);
    const defaultPort = SCHEME_PORTS.get(scheme);
    if (defaultPort === undefined) return { allowed: false, explicit: false };
    return this.allows(scheme, url.hostname, url.port === '' ? defaultPort : Number(url.port));
  }

  /** Whether `scheme://host:port` is allowed; `host` as a URL's hostname gives it (IPv6 in brackets). */
  allows(scheme: string, hostname: string, port: number): PolicyMatch {
    const defaultPort = SCHEME_PORTS.get(scheme);
    if (defaultPort === undefined) return { allowed: false, explicit: false };
    let host = hostname.toLowerCase();
    if (host.endsWith('.') && !host.endsWith('..')) host = host.slice(0, -1);

    let allowed = false;
    let explicit = false;
    for (const rule of this.rules) {
      if (rule.scheme !== '*' && rule.scheme !== scheme) continue;
      if (rule.port === 'default' ? port !== defaultPort : rule.port !== '*' && rule.port !== port) continue;
      const h = rule.host;
      if (h.kind === 'exact') {
        if (h.host !== host) continue;
        explicit = true;
      } else if (h.kind === 'suffix') {
        if (!host.endsWith('.' + h.suffix)) continue;
      }
      allowed = true;
      if (explicit) break;
    }
    return { allowed, explicit };
  }

  /**
   * The components the entries grant chained calls to (docs/composition.md), or `*` for every one:
   * only an entry that names `http://COMPONENT.verge.internal` or `http://*.verge.internal` grants
   * one. A wildcard that merely covers it (`http://*:*`, `http://*.internal`) does not.
   */
  chainGrants(): '*' | string[] {
    const granted = this.internalEntries().flatMap((e) => ('grants' in e ? [e.grants] : []));
    return granted.includes('*') ? '*' : [...new Set(granted)];
  }

  /**
   * The entries that name hosts under verge.internal, by index: the component each grants
   * (`*` for every one), or what is wrong with it (a phrase to follow "expected ").
   */
  internalEntries(): Array<{ index: number; entry: string; grants: string } | { index: number; entry: string; expected: string }> {
    const out: Array<{ index: number; entry: string; grants: string } | { index: number; entry: string; expected: string }> = [];
    this.rules.forEach((rule, index) => {
      const h = rule.host;
      const host = h.kind === 'exact' ? h.host : h.kind === 'suffix' ? h.suffix : undefined;
      if (host === undefined || !isInternalHost(host)) return;
      const entry = rule.entry;
      const shape = `http://COMPONENT.${INTERNAL_DOMAIN} or http://*.${INTERNAL_DOMAIN}`;
      if (rule.scheme === 'https') out.push({ index, entry, expected: `${shape}: a chained call is plain http, it never leaves the node` });
      else if (rule.port !== 'default' && rule.port !== '*' && rule.port !== 80) out.push({ index, entry, expected: `${shape}, without a port` });
      else if (h.kind === 'suffix') out.push(host === INTERNAL_DOMAIN ? { index, entry, grants: '*' } : { index, entry, expected: shape });
      else {
        const target = internalTarget(host);
        out.push(target ? { index, entry, grants: target } : { index, entry, expected: shape });
      }
    });
    return out;
  }
}

/**
 * Validates the manifest value. `keyPath` names it in errors, e.g.
 * `component.api.allowed_outbound_hosts`; each error reads `<keyPath>[i]: expected ..., got "..."`.
 */
export function parseAllowedHosts(entries: unknown, keyPath: string): { policy: OutboundPolicy } | { errors: string[] } {
  if (!Array.isArray(entries)) {
    return { errors: [`${keyPath}: expected an array of strings like ["https://api.example.com"], got ${describe(entries)}`] };
  }
  const errors: string[] = [];
  const rules: Rule[] = [];
  entries.forEach((entry: unknown, i) => {
    const at = `${keyPath}[${i}]`;
    if (typeof entry !== 'string') {
      errors.push(`${at}: expected a string ${EXPECTED} ${EXAMPLE}, got ${describe(entry)}`);
      return;
    }
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') errors.push(`${at}: expected ${parsed}, got ${JSON.stringify(entry)}`);
    else rules.push(parsed);
  });
  return errors.length > 0 ? { errors } : { policy: OutboundPolicy.fromRules(rules) };
}

/** parseAllowedHosts for code and tests: throws an Error listing every problem. */
export function createOutboundPolicy(entries: readonly string[], keyPath = 'allowed_outbound_hosts'): OutboundPolicy {
  const result = parseAllowedHosts(entries, keyPath);
  if ('errors' in result) throw new Error(result.errors.join('\n'));
  return result.policy;
}

/** A Rule, or what was expected (a phrase to follow "expected "). */
function parseEntry(entry: string): Rule | string {
  const sep = entry.indexOf('://');
  if (sep === -1) return `${EXPECTED} ${EXAMPLE}`;
  const scheme = entry.slice(0, sep).toLowerCase();
  if (scheme !== '*' && !SCHEME_PORTS.has(scheme)) {
    return `${EXPECTED} with scheme ${[...SCHEME_PORTS.keys()].join(', ')} or *`;
  }
  const rest = entry.slice(sep + 3);
  if (/[/?#\\]/.test(rest)) return `${EXPECTED} with no path, query or fragment`;
  if (rest.includes('@')) return `${EXPECTED} with no user info`;
  if (/[\s\x00-\x1f\x7f]/.test(rest)) return `${EXPECTED} with no spaces or control characters`;

  let hostText: string;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close === -1) return `${EXPECTED} with an IPv6 host in brackets, like "http://[::1]:8080"`;
    hostText = rest.slice(0, close + 1);
    const after = rest.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) return `${EXPECTED} with ":port" after the IPv6 address`;
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colons = rest.split(':').length - 1;
    if (colons > 1) return `${EXPECTED} with an IPv6 host in brackets, like "http://[::1]:8080"`;
    const colon = rest.indexOf(':');
    hostText = colon === -1 ? rest : rest.slice(0, colon);
    portText = colon === -1 ? undefined : rest.slice(colon + 1);
  }

  let port: PortRule = 'default';
  if (portText !== undefined) {
    if (portText === '*') port = '*';
    else if (/^[0-9]{1,5}$/.test(portText) && Number(portText) >= 1 && Number(portText) <= 65535) port = Number(portText);
    else return `${EXPECTED} with a port from 1 to 65535 or *`;
  }

  const host = parseHost(hostText);
  if (typeof host === 'string') return `${EXPECTED} with ${host}`;
  return Object.freeze({ entry, scheme, host, port });
}

const HOST_EXPECTED = 'a host that is a DNS name, an IPv4 address, an [IPv6] address, *.domain or *';

function parseHost(text: string): HostRule | string {
  if (text === '') return HOST_EXPECTED;
  if (text === '*') return { kind: 'any' };
  if (text.startsWith('[')) {
    const inner = text.slice(1, -1);
    if (!isIPv6(inner) || inner.includes('%')) return `an IPv6 address in brackets, like "[::1]"`;
    return { kind: 'exact', host: new URL(`http://[${inner}]/`).hostname };
  }
  if (text.startsWith('*.')) {
    const suffix = dnsName(text.slice(2));
    if (suffix === undefined) return `a wildcard host like "*.example.com"`;
    return { kind: 'suffix', suffix };
  }
  if (text.includes('*')) return `a wildcard that is the whole host ("*") or a leading "*." ("*.example.com")`;
  if (isIPv4(text)) return { kind: 'exact', host: text };
  const name = dnsName(text);
  if (name === undefined) return HOST_EXPECTED;
  return { kind: 'exact', host: name };
}

/** The lower-case ASCII (punycode) form of a DNS name, or undefined when it is not one. */
function dnsName(text: string): string | undefined {
  if (text === '' || text.endsWith('.')) return undefined;
  const ascii = domainToASCII(text).toLowerCase();
  if (ascii === '' || ascii.length > 253) return undefined;
  const labels = ascii.split('.');
  if (!labels.every((l) => LABEL.test(l))) return undefined;
  // The URL parser reads a host whose last label is numeric as an IPv4 address ("127.1").
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(labels[labels.length - 1]!)) return undefined;
  return ascii;
}
