/**
 * The content id of a bundle, and of an app version built from the same files: the hex SHA-256 of
 * a canonical listing, one line `${sha256} ${size} ${path}\n` per file, sorted by path in UTF-8
 * byte order. Paths are app-relative with "/" separators and the manifest is always `verge.toml`,
 * so the same files give the same id whatever the folder, the archive layout or the compression.
 * Directories are not listed: only files carry content.
 */
import { createHash } from 'node:crypto';

/** One file of a bundle: its app-relative path, its size in bytes and the hex SHA-256 of its bytes. */
export interface Listing {
  path: string;
  size: number;
  sha256: string;
}

/** Byte order of the UTF-8 encodings, not UTF-16 code-unit order (they differ above U+FFFF). */
export function comparePaths(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export function sortListing<T extends { path: string }>(files: readonly T[]): T[] {
  return [...files].sort((a, b) => comparePaths(a.path, b.path));
}

export function bundleId(listing: ReadonlyArray<Listing>): string {
  const hash = createHash('sha256');
  for (const f of sortListing(listing)) hash.update(`${f.sha256} ${f.size} ${f.path}\n`, 'utf8');
  return hash.digest('hex');
}
