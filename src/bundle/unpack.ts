/**
 * Unpacks a bundle from a stream into a new folder, refusing anything hostile while it streams:
 * each cap is checked before the bytes it would allow are read, every path against the entry
 * rule, every header against ustar.ts. Files go into a fresh temp folder beside `destDir`, are
 * fsynced once all is accepted, and the folder is renamed to `destDir` only once the whole bundle, its manifest and
 * the files the manifest needs are checked: a crash or a refusal leaves nothing at `destDir`, and
 * a refusal removes the temp folder.
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readFile, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { VergeError, isVergeError } from '../errors.js';
import { parseManifest } from '../manifest/load.js';
import { ByteCounter } from './byte-counter.js';
import { EntryPaths, parentPaths } from './entry-path.js';
import { fsyncAll, fsyncPath } from './fsync.js';
import { bundleId, sortListing, type Listing } from './id.js';
import { bundleLimits, tooLarge, type BundleLimits } from './limits.js';
import { BUNDLE_MANIFEST, referencedFiles } from './manifest-files.js';
import { readTar, type TarEntry } from './tar-reader.js';

export interface UnpackResult {
  id: string;
  /** Sorted by path. */
  files: Listing[];
  /** `destDir`/verge.toml. */
  manifestFile: string;
}

const invalid = (message: string) => new VergeError('BUNDLE_INVALID', `bundle: ${message}`);

/**
 * `destDir` must not exist; its parent is created if need be. On a refusal `input` is destroyed
 * (not read to its end) and the promise rejects with BUNDLE_INVALID or BUNDLE_TOO_LARGE.
 */
export async function unpackBundle(input: Readable, destDir: string, limits: Partial<BundleLimits> = {}): Promise<UnpackResult> {
  const caps = bundleLimits(limits);
  const dest = path.resolve(destDir);
  await refuseExisting(dest);
  await mkdir(path.dirname(dest), { recursive: true });
  const tmp = await mkdtemp(path.join(path.dirname(dest), `.${path.basename(dest)}.unpacking-`));
  try {
    const { files, folders } = await extract(input, tmp, caps);
    await checkManifest(tmp, files);
    // Only once the bundle is accepted: a refusal costs no flushes.
    await fsyncAll(tmp, [...files.map((f) => f.path), ...folders]);
    await refuseExisting(dest);
    await rename(tmp, dest);
    await fsyncPath(path.dirname(dest));
    return { id: bundleId(files), files: sortListing(files), manifestFile: path.join(dest, BUNDLE_MANIFEST) };
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    throw err;
  }
}

async function refuseExisting(dest: string): Promise<void> {
  const exists = await lstat(dest).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    },
  );
  // The caller's mistake, not the bundle's: rename would replace an empty folder.
  if (exists) throw new Error(`${dest} already exists: a bundle is unpacked into a new folder, never into an existing one`);
}

/** Streams the entries into `tmp`; returns the files written and the folders made (relative, "" for `tmp`). */
async function extract(input: Readable, tmp: string, caps: Readonly<BundleLimits>): Promise<{ files: Listing[]; folders: Set<string> }> {
  const files: Listing[] = [];
  const folders = new Set<string>(['']);
  const paths = new EntryPaths();
  let total = 0;
  const compressed = new ByteCounter(caps.maxCompressedBytes, (max) => tooLarge(`bundle: the upload is over the limit of ${max} compressed bytes`));
  try {
    await pipeline(input, compressed, createGunzip(), async (inflated: AsyncIterable<Buffer>) => {
      for await (const entry of readTar(inflated)) {
        const name = JSON.stringify(entry.path);
        const clash = paths.add(entry.path, entry.type);
        if (clash !== undefined) throw invalid(`entry ${name}: ${clash}`);
        // Folders count too: deep paths could otherwise make a hundred of them per entry.
        if (paths.size > caps.maxEntries) throw tooLarge(`bundle: more than ${caps.maxEntries} files and folders (at entry ${name})`);
        if (entry.type === 'directory') {
          await makeFolders(tmp, entry.path, folders);
          continue;
        }
        // Checked against the declared size before a byte of it is read; readTar never gives more than that.
        if (entry.size > caps.maxFileBytes) throw tooLarge(`bundle entry ${name} is ${entry.size} bytes, over the per-file limit of ${caps.maxFileBytes} bytes`);
        total += entry.size;
        if (total > caps.maxTotalBytes) throw tooLarge(`bundle entry ${name} takes the files to ${total} bytes, over the limit of ${caps.maxTotalBytes} bytes uncompressed`);
        await makeFolders(tmp, path.posix.dirname(entry.path), folders);
        files.push(await writeFile(tmp, entry));
      }
    });
  } catch (err) {
    throw asBundleError(err);
  }
  return { files, folders };
}

/** `rel` and each folder above it, inside `tmp` (a fresh folder holding only what this code made: no links to follow). */
async function makeFolders(tmp: string, rel: string, folders: Set<string>): Promise<void> {
  if (rel === '.' || folders.has(rel)) return;
  await mkdir(path.join(tmp, rel), { recursive: true, mode: 0o755 });
  for (const folder of [...parentPaths(rel), rel]) folders.add(folder);
}

async function writeFile(tmp: string, entry: TarEntry): Promise<Listing> {
  // O_EXCL and O_NOFOLLOW: never through a link, never over an existing file.
  const flags = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_NOFOLLOW;
  const fh = await open(path.join(tmp, ...entry.path.split('/')), flags, 0o644);
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of entry.data()) {
      size += chunk.length;
      hash.update(chunk);
      for (let at = 0; at < chunk.length; ) at += (await fh.write(chunk, at)).bytesWritten;
    }
  } finally {
    await fh.close();
  }
  return { path: entry.path, size, sha256: hash.digest('hex') };
}

/** zlib's errors are the bundle's fault; file system and stream errors are not, and pass through. */
function asBundleError(err: unknown): unknown {
  if (isVergeError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code !== 'string' || !code.startsWith('Z_')) return err;
  const message = (err as Error).message;
  if (code === 'Z_BUF_ERROR') return invalid(`the gzip stream is truncated (${message})`);
  return invalid(`not a valid gzip stream (${message}): a bundle is a gzip-compressed ustar archive`);
}

async function checkManifest(tmp: string, files: Listing[]): Promise<void> {
  if (!files.some((f) => f.path === BUNDLE_MANIFEST)) throw invalid(`there is no ${BUNDLE_MANIFEST} at its root (a bundle keeps its app's manifest there)`);
  const file = path.join(tmp, BUNDLE_MANIFEST);
  const text = await readFile(file, 'utf8');
  let app;
  try {
    app = parseManifest(text, file);
  } catch (err) {
    if (!isVergeError(err, 'MANIFEST_INVALID')) throw err;
    throw invalid(`its ${BUNDLE_MANIFEST} is not a valid manifest:\n${err.message.replaceAll(file, BUNDLE_MANIFEST)}`);
  }
  const present = new Set(files.map((f) => f.path));
  for (const ref of referencedFiles(app, text)) {
    if (!present.has(ref.path)) throw invalid(`its ${BUNDLE_MANIFEST} needs ${JSON.stringify(ref.path)} for ${ref.by}, but the bundle has no such file`);
  }
}
