/**
 * An app version: everything needed to serve one app, immutable once made. Its content id is the
 * bundle id (src/bundle/id.ts) of its files: the manifest as verge.toml, each module at its path
 * relative to the manifest's folder, every file its components mount, and any other file the
 * version carries (signatures). So the same inputs always give the same id (a reload that
 * changed nothing is recognised), any change gives another, and `verge up ./app` and a node serving the bundle of ./app agree on it.
 */
import path from 'node:path';
import { createHash } from 'node:crypto';
import { bundleId } from '../bundle/id.js';
import { MAX_MODULE_BYTES, type AppConfig } from '../manifest/config.js';
import { isDependencyOnly } from '../manifest/dependencies.js';
import { compileComponent, type LoadedComponent } from './module.js';
import type { AppFiles } from '../capabilities/files/snapshot.js';

/** What an app source hands over: the parsed manifest, its text, and each component's module bytes. */
export interface AppDraft {
  app: AppConfig;
  manifestText: string;
  /** By component name. */
  modules: ReadonlyMap<string, Uint8Array>;
  /** Other files of the version (detached signatures), by path relative to the manifest's folder. */
  files?: ReadonlyMap<string, Uint8Array>;
  /** The files its components mount (`files`), snapshotted: listed in the content id, served read-only. */
  mounted?: AppFiles | undefined;
  /** The files of `path` dependencies (docs/composition.md), by absolute path. */
  dependencies?: ReadonlyMap<string, Uint8Array>;
}

export interface LoadedVersion {
  /** Hex SHA-256 of the manifest and the modules. */
  id: string;
  app: AppConfig;
  components: LoadedComponent[];
  mounted?: AppFiles | undefined;
}

/** A file's path relative to the app's folder, '/'-separated: its path in a bundle and in the content id. */
export function appRelative(app: Pick<AppConfig, 'dir'>, file: string): string {
  return path.relative(app.dir, file).split(path.sep).join('/');
}

export function contentId(draft: AppDraft): string {
  const files = new Map<string, Uint8Array>([['verge.toml', Buffer.from(draft.manifestText)]]);
  for (const c of draft.app.components.values()) {
    const bytes = draft.modules.get(c.name);
    if (bytes) files.set(appRelative(draft.app, c.source), bytes);
  }
  for (const [source, bytes] of draft.dependencies ?? []) files.set(appRelative(draft.app, source), bytes);
  for (const [p, bytes] of draft.files ?? []) files.set(p, bytes);
  const listing = new Map((draft.mounted?.listing ?? []).map((l) => [l.path, l]));
  for (const [p, bytes] of files) listing.set(p, { path: p, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') });
  return bundleId([...listing.values()]);
}

/**
 * Compiles every component (transpiling components through the cache), each with its
 * dependencies. A component that is only a dependency is compiled with its parents, not on its
 * own: it serves no route. Throws the first component's VergeError.
 */
export async function loadVersion(draft: AppDraft): Promise<LoadedVersion> {
  const components = await Promise.all(
    [...draft.app.components.values()]
      .filter((c) => !isDependencyOnly(draft.app, c.name))
      .map((c) => compileComponent(c, moduleOf(draft, c.name), MAX_MODULE_BYTES, async (d) => ('component' in d.from ? moduleOf(draft, d.from.component) : dependencyOf(draft, d.source)))),
  );
  return { id: contentId(draft), app: draft.app, components, mounted: draft.mounted };
}

function moduleOf(draft: AppDraft, component: string): Uint8Array {
  const bytes = draft.modules.get(component);
  if (!bytes) throw new Error(`the draft of app ${draft.app.name} has no module for component ${component}`);
  return bytes;
}

function dependencyOf(draft: AppDraft, source: string): Uint8Array {
  const bytes = draft.dependencies?.get(source);
  if (!bytes) throw new Error(`the draft of app ${draft.app.name} has no file ${source} for a dependency`);
  return bytes;
}
