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
