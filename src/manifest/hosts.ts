/**
 * `[application] hosts`: the Host header values an app answers. A pattern is a host name
 * (`api.example.com`) or a wildcard over its subdomains (`*.example.org`, which matches
 * `a.example.org` and `a.b.example.org` but not `example.org` itself). Matching ignores case and
 * the port.
 */
export type HostPattern = { kind: 'exact'; host: string } | { kind: 'suffix'; suffix: string };

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The pattern, or a sentence saying what is wrong with it. */
export function parseHostPattern(raw: string): HostPattern | string {
  const value = raw.toLowerCase();
  const wildcard = value.startsWith('*.');
  const name = wildcard ? value.slice(2) : value;
  if (name.includes(':')) return 'expected a host name without a port (the port is ignored when matching)';
  if (name.includes('*')) return 'expected a host name, or "*." followed by one (a wildcard may only be the first label)';
  const labels = name.split('.');
  if (name.length > 253 || !labels.every((l) => LABEL.test(l))) return 'expected a host name such as "api.example.com" or "*.example.org"';
  return wildcard ? { kind: 'suffix', suffix: '.' + name } : { kind: 'exact', host: name };
}

/** The canonical text of a pattern: two apps conflict only if they share one. */
export function hostPatternKey(p: HostPattern): string {
  return p.kind === 'exact' ? p.host : '*' + p.suffix;
}

/** The host name of a Host header value: lower case, port and IPv6 brackets' port removed. */
export function hostOf(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const value = header.toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end === -1 ? value : value.slice(0, end + 1);
  }
  const colon = value.indexOf(':');
  return colon === -1 ? value : value.slice(0, colon);
}

/**
 * Hosts under `verge.internal` name the components of the calling app (`auth.verge.internal`) and,
 * for a middleware, what comes after it (`next.verge.internal`): they are reached in-process by
 * chained calls and never from outside (docs/composition.md).
 */
export const INTERNAL_DOMAIN = 'verge.internal';
/** The reserved name a middleware calls to pass its request on. */
export const NEXT_COMPONENT = 'next';

/** Whether a host name (lower case, no port) is verge.internal or under it. */
export function isInternalHost(host: string | undefined): boolean {
  if (host === undefined) return false;
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  return name === INTERNAL_DOMAIN || name.endsWith('.' + INTERNAL_DOMAIN);
}

/**
 * The component an internal host names (`auth` for `auth.verge.internal`, `next` for
 * `next.verge.internal`); '' for an internal host that names none (verge.internal itself, or a
 * deeper name); undefined for a host outside verge.internal.
 */
export function internalTarget(host: string): string | undefined {
  const name = (host.endsWith('.') ? host.slice(0, -1) : host).toLowerCase();
  if (!isInternalHost(name)) return undefined;
  const label = name.slice(0, -(INTERNAL_DOMAIN.length + 1));
  return label.includes('.') ? '' : label;
}

/** internalTarget of a URL's host: a chained call's target; undefined for any other URL, a malformed one included (refused elsewhere as malformed). */
export function internalUrlTarget(url: string): string | undefined {
  // Most outbound URLs are not internal: no URL parse for them (unless percent-encoding could spell the name).
  if (!url.toLowerCase().includes(INTERNAL_DOMAIN) && !url.includes('%')) return undefined;
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return undefined;
  }
  return internalTarget(hostname);
}
