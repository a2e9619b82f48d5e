/** `allowed_outbound_hosts = [...]` on a component, validated once at load (policy.ts holds the rules). */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
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
