/**
 * `verge bundle [PATH] [-o FILE]`: packs an app into a .vbundle for upload to a node. The work is
 * src/bundle's; this decides the output name (NAME.vbundle in the current folder by default).
 */
import path from 'node:path';
import { packBundleToFile, type PackResult } from '../bundle/index.js';
import { loadManifest } from '../manifest/load.js';

export const BUNDLE_EXTENSION = '.vbundle';

export interface BundledApp extends PackResult {
  app: string;
  /** Absolute path of the bundle written. */
  file: string;
}

export async function bundleApp(target: string, output?: string): Promise<BundledApp> {
  const app = loadManifest(target);
  const file = path.resolve(output ?? `${app.name}${BUNDLE_EXTENSION}`);
  return { app: app.name, file, ...(await packBundleToFile(app.file, file)) };
}
