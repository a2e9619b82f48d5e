/**
 * Where app versions come from. A source reads the current state of one app as a draft; the node
 * turns drafts into versions and installs them. Today: a verge.toml on disk (with its module
 * files); uploaded bundles and a cluster are further sources behind the same interface.
 */
import { parseManifest, readManifestText, resolveManifestPath } from '../manifest/load.js';
import { readModuleFile } from '../loader/module.js';
import type { AppDraft } from '../loader/app-version.js';

export interface AppSource {
  /** What to call the source in messages: a manifest path, an upload id, ... */
  readonly label: string;
  read(): Promise<AppDraft>;
}

export interface FileAppSource extends AppSource {
  /** Absolute path of the verge.toml. */
  readonly manifestFile: string;
}

/** A verge.toml (or a folder holding one) and the module files it names, read afresh at each `read`. */
export function fileSource(target: string): FileAppSource {
  const manifestFile = resolveManifestPath(target);
  return {
    label: manifestFile,
    manifestFile,
    async read(): Promise<AppDraft> {
      const text = readManifestText(manifestFile);
      const app = parseManifest(text, manifestFile);
      const modules = new Map<string, Uint8Array>();
      for (const c of app.components.values()) modules.set(c.name, await readModuleFile(c));
      return { app, manifestText: text, modules };
    },
  };
}
