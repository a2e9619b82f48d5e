/**
 * An app version: everything needed to serve one app, immutable once made. Its content id is a
 * SHA-256 over the manifest text and every component's module bytes, so the same inputs always
 * give the same id (a reload that changed nothing is recognised) and any change gives another.
 */
import { createHash } from 'node:crypto';
import type { AppConfig } from '../manifest/config.js';
import { compileComponent, type LoadedComponent } from './module.js';

/** What an app source hands over: the parsed manifest, its text, and each component's module bytes. */
export interface AppDraft {
  app: AppConfig;
  manifestText: string;
  /** By component name. */
  modules: ReadonlyMap<string, Uint8Array>;
}

export interface LoadedVersion {
  /** Hex SHA-256 of the manifest and the modules. */
  id: string;
  app: AppConfig;
  components: LoadedComponent[];
}

export function contentId(draft: AppDraft): string {
  const hash = createHash('sha256');
  const field = (bytes: Uint8Array | string) => {
    const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(b.byteLength));
    hash.update(len).update(b);
  };
  field(draft.manifestText);
  for (const name of [...draft.modules.keys()].sort()) {
    field(name);
    field(draft.modules.get(name)!);
  }
  return hash.digest('hex');
}

/** Compiles every component (transpiling components through the cache). Throws the first component's VergeError. */
export async function loadVersion(draft: AppDraft): Promise<LoadedVersion> {
  const components = await Promise.all(
    [...draft.app.components.values()].map((c) => {
      const bytes = draft.modules.get(c.name);
      if (!bytes) throw new Error(`the draft of app ${draft.app.name} has no module for component ${c.name}`);
      return compileComponent(c, bytes);
    }),
  );
  return { id: contentId(draft), app: draft.app, components };
}
