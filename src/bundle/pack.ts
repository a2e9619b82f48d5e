/**
 * Packs an app into a bundle: its manifest (as verge.toml), every file it references (modules and
 * the files its components mount), at their paths relative to the manifest's folder, so the unpacked manifest works unchanged. Everything is
 * checked before a byte is written: each file must exist, be a regular file, resolve inside the app
 * folder (no symbolic link out of it) and fit the caps. The output is deterministic: sorted
 * entries, fixed modes, owners and times, one gzip level.
 */
import { createWriteStream, constants as fsConstants } from 'node:fs';
import { open, realpath, rename, rm, stat } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { VergeError } from '../errors.js';
import { readApp, readManifestText, resolveManifestPath } from '../manifest/load.js';
import { ByteCounter } from './byte-counter.js';
import { EntryPaths, entryPathProblem } from './entry-path.js';
import { bundleId, comparePaths, sortListing, type Listing } from './id.js';
import { bundleLimits, tooLarge, type BundleLimits } from './limits.js';
import { BUNDLE_MANIFEST, referencedFiles } from './manifest-files.js';
import { fsyncPath } from './fsync.js';
import { tarStream, type TarFile } from './tar-writer.js';
import { snapshotFiles } from '../capabilities/files/snapshot.js';

export interface PackOptions {
  /** More files to include, relative to the manifest's folder with "/" separators ("static/index.html"). */
  extraFiles?: readonly string[];
  limits?: Partial<BundleLimits>;
}

export interface PackResult {
  id: string;
  /** Sorted by path. */
  files: Listing[];
  /** Written to the output, compressed. */
  bytes: number;
}

/** A file to pack: where it comes from, why it is in, where it goes. */
interface Wanted {
  by: string;
  path: string;
  source: string;
  hint?: string;
  /** Content already read (the manifest, as parsed); otherwise the file is read while packing. */
  bytes?: Buffer;
}

interface Planned extends Wanted {
  real: string;
  size: number;
  ino: number;
}

// zlib's default, written out: the level is part of what makes the same app give the same bytes.
const GZIP_LEVEL = 6;
const READ_CHUNK = 64 * 1024;

/**
 * `manifestPath`: a manifest file, or a folder holding verge.toml. Writes the bundle to `out` and
 * ends it. A refusal comes before the first byte, and leaves `out` untouched (not ended).
 */
export async function packBundle(manifestPath: string, out: Writable, opts: PackOptions = {}): Promise<PackResult> {
  return writeBundle(await planBundle(manifestPath, opts), out);
}

/** Packs to `outFile` atomically: checked first, then written to a temp file beside it, flushed and renamed over it. */
export async function packBundleToFile(manifestPath: string, outFile: string, opts: PackOptions = {}): Promise<PackResult> {
  const planned = await planBundle(manifestPath, opts);
  const dest = path.resolve(outFile);
  const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${randomBytes(6).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true });
  try {
    const result = await writeBundle(planned, out);
    await rename(tmp, dest);
    await fsyncPath(path.dirname(dest));
    return result;
  } catch (err) {
    // Removed only once closed: the stream opens its file asynchronously and could create it after the removal.
    if (!out.closed) await once(out.destroy(), 'close');
    await rm(tmp, { force: true });
    const e = err as NodeJS.ErrnoException;
    // Name the file asked for, not the temp file beside it.
    if (e.path === tmp) throw new Error(`cannot write the bundle to ${dest} (${e.code ?? e.message})`, { cause: err });
    throw err;
  }
}

/** Every file found and checked, sorted: a refusal comes before anything is written. */
async function planBundle(manifestPath: string, opts: PackOptions): Promise<Planned[]> {
  const limits = bundleLimits(opts.limits);
  const file = resolveManifestPath(manifestPath);
  // A spin.toml goes in as its translation: the verge.toml a node reads.
  const { app, vergeText: text } = readApp(readManifestText(file), file);
  const wanted: Wanted[] = [
    // The manifest goes in as the text that was parsed, not as whatever the file holds by now.
    { by: 'the manifest', path: BUNDLE_MANIFEST, source: file, bytes: Buffer.from(text, 'utf8') },
    ...referencedFiles(app, text).map((f) => ({ ...f, source: path.join(app.dir, f.path), hint: '; build the app first (`verge build`)' })),
    // The files the components mount are part of the version: checked as a load checks them.
    ...((await snapshotFiles(app))?.listing ?? []).map((f) => ({ by: 'a mounted file', path: f.path, source: path.join(app.dir, ...f.path.split('/')) })),
    ...(opts.extraFiles ?? []).map((f) => extraFile(app.dir, f)),
  ];
  return plan(app.dir, wanted, limits);
}

async function writeBundle(planned: Planned[], out: Writable): Promise<PackResult> {
  const listing: Listing[] = [];
  const entries: TarFile[] = planned.map((p) => ({ path: p.path, size: p.size, read: () => hashed(p.bytes ? [p.bytes] : readPlanned(p), p.path, listing) }));
  const counter = new ByteCounter();
  await pipeline(Readable.from(tarStream(entries)), createGzip({ level: GZIP_LEVEL }), counter, out);
  return { id: bundleId(listing), files: sortListing(listing), bytes: counter.bytes };
}

function extraFile(dir: string, name: string): Wanted {
  const problem = entryPathProblem(name);
  if (problem !== undefined) throw new VergeError('BUNDLE_INVALID', `extra file ${JSON.stringify(name)}: its path ${problem}`);
  return { by: `extra file ${JSON.stringify(name)}`, path: name, source: path.join(dir, ...name.split('/')) };
}

/** Each file checked, the same path once, sorted; refused before anything is written. */
async function plan(dir: string, wanted: Wanted[], limits: Readonly<BundleLimits>): Promise<Planned[]> {
  const root = await realpath(dir);
  const byPath = new Map<string, Wanted>();
  const paths = new EntryPaths();
  for (const w of wanted) {
    const earlier = byPath.get(w.path);
    // Two components may share a module; anything else at one path is a clash.
    if (earlier && earlier.source === w.source) continue;
    const clash = paths.add(w.path, 'file');
    if (clash !== undefined) throw new VergeError('BUNDLE_INVALID', `${w.by}: ${w.source} goes in the bundle as ${JSON.stringify(w.path)}, but ${clash}${earlier ? ` (${earlier.by})` : ''}`);
    byPath.set(w.path, w);
  }
  if (paths.size > limits.maxEntries) throw tooLarge(`the bundle would have ${paths.size} files and folders, over the limit of ${limits.maxEntries}`);
  const planned = await Promise.all([...byPath.values()].map((w) => inspect(root, w, limits)));
  const total = planned.reduce((sum, p) => sum + p.size, 0);
  if (total > limits.maxTotalBytes) throw tooLarge(`the app's files add up to ${total} bytes, over the bundle limit of ${limits.maxTotalBytes} bytes`);
  return planned.sort((a, b) => comparePaths(a.path, b.path));
}

async function inspect(root: string, w: Wanted, limits: Readonly<BundleLimits>): Promise<Planned> {
  const refuse = (rule: string) => new VergeError('BUNDLE_INVALID', `${w.by}: ${w.source} ${rule}`);
  let real: string;
  try {
    real = await realpath(w.source);
  } catch (err) {
    throw refuse(`cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})${w.hint ?? ''}`);
  }
  const inside = path.relative(root, real);
  // The path was checked to be inside the folder as written, so only a symbolic link can lead out.
  if (inside === '' || inside.split(path.sep)[0] === '..' || path.isAbsolute(inside)) throw refuse(`resolves through a symbolic link to ${real}, outside the app folder ${root}`);
  const st = await stat(real);
  if (!st.isFile()) throw refuse('is not a regular file: a bundle holds only regular files');
  const size = w.bytes?.length ?? st.size;
  if (size > limits.maxFileBytes) throw tooLarge(`${w.by}: ${w.source} is ${size} bytes, over the per-file limit of ${limits.maxFileBytes} bytes`);
  return { ...w, real, size, ino: st.ino };
}

/** Reads exactly the planned bytes, refusing a file that was swapped or resized since it was checked. */
async function* readPlanned(p: Planned): AsyncGenerator<Uint8Array> {
  const fh = await open(p.real, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (st.ino !== p.ino || st.size !== p.size) throw new VergeError('BUNDLE_INVALID', `${p.by}: ${p.source} changed while it was being packed`);
    for (let at = 0; at < p.size; ) {
      const { bytesRead, buffer } = await fh.read(Buffer.alloc(Math.min(READ_CHUNK, p.size - at)), 0, Math.min(READ_CHUNK, p.size - at), at);
      if (bytesRead === 0) break;
      at += bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** Passes the bytes on and, at the end, adds the file's line to the listing. */
async function* hashed(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, filePath: string, listing: Listing[]): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.byteLength;
    yield chunk;
  }
  listing.push({ path: filePath, size, sha256: hash.digest('hex') });
}
