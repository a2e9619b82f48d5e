/** `allowed_outbound_hosts = [...]` on a component, validated once at load (policy.ts holds the rules). */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { parseAllowedHosts } from './policy.js';

export function readOutboundGrants(c: Fields, problems: ManifestProblems): string[] {
  const key = c.keyPath('allowed_outbound_hosts');
  const raw = c.value('allowed_outbound_hosts');
  if (raw === undefined) return [];
  const parsed = parseAllowedHosts(raw, key);
  if ('errors' in parsed) {
    // Each already reads `<key path>[i]: expected ..., got ...`.
    for (const e of parsed.errors) problems.addPhrased(e);
    return [];
  }
  return (raw as string[]).slice();
}
