/** `allowed_outbound_hosts = [...]` on a component, validated once at load (policy.ts holds the rules). */
import { tomlKey, type Fields, type ManifestProblems } from '../../manifest/fields.js';
import { NEXT_COMPONENT } from '../../manifest/hosts.js';
import type { AppConfig } from '../../manifest/config.js';
import { parseAllowedHosts, type OutboundPolicy } from './policy.js';

/** The list as written and the policy parsed from it, once: the capability's state uses the policy. */
export function readOutboundGrants(c: Fields, problems: ManifestProblems): { hosts: string[]; policy: OutboundPolicy | undefined } {
  const key = c.keyPath('allowed_outbound_hosts');
  const raw = c.value('allowed_outbound_hosts');
  if (raw === undefined) return { hosts: [], policy: undefined };
  const parsed = parseAllowedHosts(raw, key);
  if ('errors' in parsed) {
    // Each already reads `<key path>[i]: expected ..., got ...`.
    for (const e of parsed.errors) problems.addPhrased(e);
    return { hosts: [], policy: undefined };
  }
  const hosts = (raw as string[]).slice();
  return { hosts, policy: hosts.length > 0 ? parsed.policy : undefined };
}

/**
 * Chained-call grants name components of the same app: `http://auth.verge.internal` with no
 * [component.auth] is a load error, as is a malformed one. `next` is no grant: a component listed
 * as a route's middleware may pass its request on, and no other.
 */
export function checkChainGrants(app: Pick<AppConfig, 'components'>, problems: ManifestProblems): void {
  for (const c of app.components.values()) {
    for (const e of c.outboundPolicy?.internalEntries() ?? []) {
      const at = `component.${tomlKey(c.name)}.allowed_outbound_hosts[${e.index}]`;
      if ('expected' in e) problems.add(at, `expected ${e.expected}, got ${JSON.stringify(e.entry)}`);
      else if (e.grants === NEXT_COMPONENT) problems.add(at, `${JSON.stringify(e.entry)} is not a grant: a component listed in a route's middleware may call it, no other component may`);
      else if (e.grants !== '*' && !app.components.has(e.grants)) problems.add(at, `${JSON.stringify(e.entry)} names no component of this app: no [component.${tomlKey(e.grants)}] is defined`);
    }
  }
}
