/**
 * Reading a component's mounts when a version is loaded, on the main thread: every file and folder
 * that `files` names is found, checked and hashed, and becomes a node of the component's tree
 * (tree.ts), which is all a guest can ever reach. Refused, with the file, the key and what was
 * expected: a missing source, a symbolic link anywhere Verge looks for mounted files (it could
 * lead out of the app folder, now or later), a file with more than one hard link (it may be the
 * same file as one outside the folder), anything but regular files and folders, and two mounts
 * that put something at the same guest path. Each file's SHA-256 goes into the version's content
 * id, so the files are part of the version; a file that changes while it is read is refused.
 */
import { constants, promises as fs, type BigIntStats } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { VergeError } from '../../errors.js';
import { ManifestProblems } from '../../manifest/fields.js';
import type { AppConfig } from '../../manifest/config.js';
import type { Listing } from '../../bundle/id.js';
import { emptyDir, type DirNode, type FileNode, type HostIdentity } from './tree.js';
import type { FileMounts } from './schema.js';

/** The mounted files of an app version. */
export interface AppFiles {
  /** Every mounted file once, by path relative to the app folder: what the content id and a bundle carry. */
  listing: Listing[];
  /** Each component's tree, by component name; a component without `files` has none. */
  trees: ReadonlyMap<string, DirNode>;
}

/** Verge's own state beside a manifest (stores, caches): never mounted, whatever a glob says. */
const VERGE_STATE_DIR = '.verge';
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const CHUNK = 1024 * 1024;

interface Found {
  rel: string;
  st: BigIntStats;
}

/**
 * Snapshots every component's mounts. `only`: the files a stored version holds (its bundle's
 * listing); others found beside them (the store's own version.json) are not the app's.
 * Undefined when no component mounts files.
 */
export async function snapshotFiles(app: AppConfig, opts: { only?: ReadonlySet<string> } = {}): Promise<AppFiles | undefined> {
  const mounting = [...app.components.values()].filter((c) => c.files);
  if (mounting.length === 0) return undefined;
  const problems = new ManifestProblems(app.file);
  const hashed = new Map<string, Promise<{ listing: Listing; node: Omit<FileNode, 'ino'> } | string>>();
  const trees = new Map<string, DirNode>();
  let ino = 1;
  for (const c of mounting) {
    const mounts = c.files as FileMounts;
    const root = emptyDir(ino++);
    const placed = new Map<string, string>();
    /** Puts `node` at `guestPath` in the tree, making folders on the way; refuses a second thing at one path. */
    const place = (guestPath: string, make: () => DirNode | FileNode, key: string, from: string) => {
      const segments = guestPath.split('/').filter((s) => s !== '');
      let dir = root;
      for (const [i, s] of segments.entries()) {
        const last = i === segments.length - 1;
        const existing = dir.entries.get(s);
        if (existing && (last || existing.kind !== 'dir')) {
          if (last && existing.kind === 'dir') return existing;
          problems.add(key, `${from} would be mounted at ${JSON.stringify('/' + segments.slice(0, i + 1).join('/'))}, where ${placed.get('/' + segments.slice(0, i + 1).join('/')) ?? 'another mount'} is: expected mounts that do not overlap`);
          return undefined;
        }
        if (existing) {
          dir = existing as DirNode;
          continue;
        }
        const node = last ? make() : emptyDir(ino++);
        dir.entries.set(s, node);
        placed.set('/' + segments.slice(0, i + 1).join('/'), from);
        if (node.kind !== 'dir') return node;
        dir = node;
      }
      return dir;
    };
    const excluded = (rel: string) => mounts.exclude.some((re) => re.test(rel));
    const addFile = (f: Found, guestPath: string, key: string) => {
      let job = hashed.get(f.rel);
      if (!job) hashed.set(f.rel, (job = hashFile(app.dir, f)));
      const slot = { kind: 'file', ino: ino++, size: 0, mtimeNs: 0n, host: '', identity: undefined as unknown as HostIdentity } as FileNode;
      if (!place(guestPath, () => slot, key, JSON.stringify(f.rel))) return;
      pending.push(job.then((r) => (typeof r === 'string' ? problems.add(key, r) : Object.assign(slot, r.node, { ino: slot.ino }))));
    };
    const pending: Array<Promise<unknown>> = [];

    for (const g of mounts.globs) {
      const found = await walk(app.dir, g.base, excluded, problems, g.key, opts.only);
      for (const f of found) {
        if (!g.re.test(f.rel)) continue;
        if (f.st.isDirectory()) continue;
        if (!f.st.isFile()) problems.add(g.key, `${JSON.stringify(f.rel)} is not a regular file: expected regular files and folders only`);
        else addFile(f, '/' + f.rel, g.key);
      }
    }
    for (const m of mounts.folders) {
      let st: BigIntStats;
      try {
        st = await fs.lstat(path.join(app.dir, m.source), { bigint: true });
      } catch (err) {
        problems.add(`${m.key}.source`, `${JSON.stringify(m.source)} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}): expected a folder of the app`);
        continue;
      }
      if (st.isSymbolicLink()) {
        problems.add(`${m.key}.source`, `${JSON.stringify(m.source)} is a symbolic link: expected a folder of the app (a link could lead out of it)`);
        continue;
      }
      if (!st.isDirectory()) {
        problems.add(`${m.key}.source`, `${JSON.stringify(m.source)} is not a folder: expected a folder of the app`);
        continue;
      }
      const top = place(m.destination, () => emptyDir(ino++, st.mtimeNs), `${m.key}.destination`, `folder ${JSON.stringify(m.source)}`);
      if (!top || top.kind !== 'dir') continue;
      top.mtimeNs = st.mtimeNs;
      const found = await walk(app.dir, m.source, excluded, problems, m.key, opts.only);
      const under = (rel: string) => (m.source === '.' ? rel : rel.slice(m.source.length + 1));
      for (const f of found) {
        const guestPath = `${m.destination === '/' ? '' : m.destination}/${under(f.rel)}`;
        if (f.st.isDirectory()) {
          const d = place(guestPath, () => emptyDir(ino++, f.st.mtimeNs), m.key, JSON.stringify(f.rel));
          if (d && d.kind === 'dir') d.mtimeNs = f.st.mtimeNs;
        } else if (!f.st.isFile()) problems.add(m.key, `${JSON.stringify(f.rel)} is not a regular file: expected regular files and folders only`);
        else addFile(f, guestPath, m.key);
      }
    }
    await Promise.all(pending);
    trees.set(c.name, root);
  }
  const listing: Listing[] = [];
  for (const job of hashed.values()) {
    const r = await job;
    if (typeof r !== 'string') listing.push(r.listing);
  }
  if (problems.items.length > 0) throw new VergeError('MANIFEST_INVALID', problems.list.join('\n'), { problems: problems.items });
  return { listing, trees };
}

/**
 * Everything below `base` (app-relative, "." for the app folder), by lstat: links are not
 * followed, and one found anywhere is a problem. Excluded paths are skipped with what is below them.
 */
async function walk(appDir: string, base: string, excluded: (rel: string) => boolean, problems: ManifestProblems, key: string, only: ReadonlySet<string> | undefined): Promise<Found[]> {
  const out: Found[] = [];
  const visit = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = (await fs.readdir(path.join(appDir, rel))).sort();
    } catch (err) {
      // A glob whose folder is not there matches nothing.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && rel === base) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR' && rel === base) return;
      throw err;
    }
    for (const name of names) {
      const child = rel === '.' ? name : `${rel}/${name}`;
      if (child === VERGE_STATE_DIR || excluded(child)) continue;
      const st = await fs.lstat(path.join(appDir, child), { bigint: true });
      if (st.isSymbolicLink()) {
        problems.add(key, `${JSON.stringify(child)} is a symbolic link: expected regular files and folders only (a link could lead out of the app folder); exclude it with exclude_files`);
        continue;
      }
      if (st.isDirectory()) {
        out.push({ rel: child, st });
        await visit(child);
      } else if (!only || only.has(child)) out.push({ rel: child, st });
    }
  };
  await visit(base);
  return out;
}

/** Reads and hashes one file through a descriptor that is checked to be the file that was found. */
async function hashFile(appDir: string, f: Found): Promise<{ listing: Listing; node: Omit<FileNode, 'ino'> } | string> {
  const host = path.join(appDir, f.rel);
  const name = JSON.stringify(f.rel);
  if (f.st.nlink > 1n) return `${name} has ${f.st.nlink} hard links: a file with more than one may be the same file as one outside the app folder; mount a copy instead`;
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(host, OPEN_FLAGS);
  } catch (err) {
    return `${name} cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (!before.isFile() || before.dev !== f.st.dev || before.ino !== f.st.ino || before.nlink > 1n) return `${name} was replaced while it was being read: load the app again`;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, size);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      size += bytesRead;
    }
    const after = await fh.stat({ bigint: true });
    if (BigInt(size) !== after.size || after.size !== before.size || after.mtimeNs !== before.mtimeNs || after.ctimeNs !== before.ctimeNs) {
      return `${name} changed while it was being read: load the app again`;
    }
    const identity: HostIdentity = { dev: after.dev, ino: after.ino, size: after.size, mtimeNs: after.mtimeNs, ctimeNs: after.ctimeNs };
    return {
      listing: { path: f.rel, size, sha256: hash.digest('hex') },
      node: { kind: 'file', size, mtimeNs: after.mtimeNs, host, identity },
    };
  } finally {
    await fh.close();
  }
}
