/**
 * Which files a manifest needs beside it, as bundle paths. Packing uses this to know what to put
 * in; unpacking uses it to check that everything the manifest needs came. Either way a source must
 * be a relative path inside the app folder, so the manifest works unchanged wherever it is unpacked.
 */
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { VergeError } from '../errors.js';
import type { AppConfig } from '../manifest/config.js';
import { entryPathProblem } from './entry-path.js';
import { dependencyFiles } from '../manifest/dependencies.js';

/** Where a bundle keeps the manifest, whatever its name on disk. */
export const BUNDLE_MANIFEST = 'verge.toml';

export interface ReferencedFile {
  /** What needs it: "component web". */
  by: string;
  /** Relative to the manifest's folder, "/"-separated. */
  path: string;
}

/** `app` must have been parsed from `text` (so the TOML is known to be valid). */
export function referencedFiles(app: AppConfig, text: string): ReferencedFile[] {
  const raw = (parseToml(text) as { component?: Record<string, { source?: unknown }> }).component ?? {};
  const components = [...app.components.values()].map((c) => inside(app, `component ${c.name}`, 'source', String(raw[c.name]?.source), c.source));
  // `path` dependencies are modules too; a `component` one is among the components already.
  const dependencies = dependencyFiles(app).map((f) => inside(app, f.by, 'path', 'path' in f.dependency.from ? f.dependency.from.path : f.source, f.source));
  return [...components, ...dependencies];
}

function inside(app: AppConfig, by: string, key: string, written: string, absolute: string): ReferencedFile {
  const refuse = (rule: string) => new VergeError('BUNDLE_INVALID', `${by}: ${key} ${JSON.stringify(written)} ${rule}`);
  // An absolute path inside the app folder would still point at the packing machine's folder after unpacking.
  if (path.isAbsolute(written)) throw refuse('is absolute: a bundled app names its modules relative to verge.toml');
  const relative = path.relative(app.dir, absolute).split(path.sep).join('/');
  const problem = entryPathProblem(relative);
  if (problem !== undefined) throw refuse(`is outside the app folder: its path ${problem}`);
  return { by, path: relative };
}
