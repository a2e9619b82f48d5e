/**
 * Signatures on a whole version: when the node trusts any key, the manifest (its detached
 * `verge.toml.sig`) and every module (embedded, or a detached `<module>.sig` beside it) must be
 * signed by a trusted, unrevoked key. Checked before anything is compiled: at start for apps from
 * a path, on upload, and on every load of a stored version.
 */
import { appRelative, type AppDraft } from '../loader/app-version.js';
import { loadTrustPolicy, type TrustOptions } from '../signing/index.js';
import type { DraftVerifier } from './service.js';

export type { TrustOptions };

/** Where a draft keeps a file's detached signature. */
export const signatureFile = (relativePath: string) => `${relativePath}.sig`;

export function createDraftVerifier(opts: TrustOptions): DraftVerifier & { active: boolean } {
  const policy = loadTrustPolicy(opts);
  return {
    active: policy.active,
    verify(draft: AppDraft, label: string): string[] {
      if (!policy.active) return [];
      const signers = new Set<string>();
      const note = (v: { signers: ReadonlyArray<{ keyId: string }> }) => v.signers.forEach((s) => signers.add(s.keyId));
      note(policy.verifyManifest(draft.manifestText, draft.files?.get(signatureFile('verge.toml')), `${label}: verge.toml`));
      for (const c of draft.app.components.values()) {
        const rel = appRelative(draft.app, c.source);
        note(policy.verifyModule(draft.modules.get(c.name)!, draft.files?.get(signatureFile(rel)), `${label}: component ${c.name} (${rel})`));
      }
      // A dependency's code runs as much as a component's: it is held to the same signatures.
      for (const [source, bytes] of draft.dependencies ?? []) {
        const rel = appRelative(draft.app, source);
        note(policy.verifyModule(bytes, draft.files?.get(signatureFile(rel)), `${label}: dependency ${rel}`));
      }
      return [...signers].sort();
    },
  };
}
