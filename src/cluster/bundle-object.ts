/**
 * A stored version as a bundle for the cluster's bundle store: its files, as listed when it was
 * accepted, packed again (sorted ustar, gzip) from the version folder. The bytes are never the
 * upload's own: what goes into the store is exactly what this node checked, and whoever reads it
 * checks it again against the id (DeployService.importVersion).
 */
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { sortListing, type Listing } from '../bundle/id.js';
import { tarStream } from '../bundle/tar-writer.js';

export function versionBundle(dir: string, files: readonly Listing[]): Readable {
  const entries = sortListing(files).map((f) => ({
    path: f.path,
    size: f.size,
    read: () => createReadStream(path.join(dir, ...f.path.split('/'))) as AsyncIterable<Uint8Array>,
  }));
  const gzip = createGzip({ level: 6 });
  const tar = Readable.from(tarStream(entries));
  tar.on('error', (err) => gzip.destroy(err));
  return tar.pipe(gzip);
}
