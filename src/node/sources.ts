/**
 * Where app versions come from. A source reads the current state of one app as a draft; the node
 * turns drafts into versions and installs them. Today: a verge.toml or a spin.toml on disk (with its module
 * files); uploaded bundles and a cluster are further sources behind the same interface.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadManifest, readApp, readManifestText, resolveManifestPath, type LoadOptions } from '../manifest/load.js';
import type { AppConfig } from '../manifest/config.js';
import { readModuleFile } from '../loader/module.js';
import { readDependencyFile } from '../loader/dependencies.js';
import { dependencyFiles } from '../manifest/dependencies.js';
import { MAX_MODULE_BYTES } from '../manifest/config.js';
import { appRelative, type AppDraft } from '../loader/app-version.js';
import { snapshotFiles } from '../capabilities/files/snapshot.js';

export interface AppSource {
  /** What to call the source in messages: a manifest path, an upload id, ... */
  readonly label: string;
  read(): Promise<AppDraft>;
}

export interface FileAppSource extends AppSource {
  /** Absolute path of the verge.toml (or spin.toml). */
  readonly manifestFile: string;
  /** Other files the manifest is read with (a Spin runtime config): a change to one is a change to the app. */
  readonly inputs: readonly string[];
  /** The manifest alone, as `read` checks it. */
  load(): AppConfig;
}

/**
 * A verge.toml (or a folder holding one), the module files it names and the files its components
 * mount, read afresh at each `read`. `only`: the files a stored version holds (its listing), so
 * that mounts are found among them alone.
 */
export function fileSource(target: string, opts: { only?: ReadonlySet<string> } & LoadOptions = {}): FileAppSource {
  const manifestFile = resolveManifestPath(target);
  const load: LoadOptions = { runtimeConfigFile: opts.runtimeConfigFile };
  return {
    label: manifestFile,
    manifestFile,
    inputs: opts.runtimeConfigFile === undefined ? [] : [path.resolve(opts.runtimeConfigFile)],
    load: () => loadManifest(manifestFile, load),
    async read(): Promise<AppDraft> {
      // A spin.toml's version holds its translation: the verge.toml it stands for.
      const { app, vergeText: text } = readApp(readManifestText(manifestFile), manifestFile, load);
      const modules = new Map<string, Uint8Array>();
      for (const c of app.components.values()) modules.set(c.name, await readModuleFile(c));
      const dependencies = new Map<string, Uint8Array>();
      for (const f of dependencyFiles(app)) dependencies.set(f.source, await readDependencyFile(f.parent, MAX_MODULE_BYTES)(f.dependency));
      // Detached signatures beside the manifest and the modules (verge deploy --key writes them).
      // In a version the manifest is verge.toml whatever its name on disk, and so is its signature.
      const files = new Map<string, Uint8Array>();
      const manifestSig = await readIfExists(`${manifestFile}.sig`);
      if (manifestSig) files.set('verge.toml.sig', manifestSig);
      for (const source of [...[...app.components.values()].map((c) => c.source), ...dependencies.keys()]) {
        const sig = await readIfExists(`${source}.sig`);
        if (sig) files.set(`${appRelative(app, source)}.sig`, sig);
      }
      const mounted = await snapshotFiles(app, opts);
      return { app, manifestText: text, modules, files, mounted, dependencies };
    },
  };
}

async function readIfExists(file: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
