/**
 * A component's mounted files as the worker sees them: a tree made once when the version is
 * loaded, sent to the workers as plain data. A guest's path is resolved in this tree and nowhere
 * else, so it can only ever name a file or folder that was checked at load; the host file behind a
 * file node is opened only to read it, and only if it is still the file that was checked.
 */

export interface FileNode {
  kind: 'file';
  /** The guest's inode number: unique within the tree. */
  ino: number;
  size: number;
  mtimeNs: bigint;
  /** Absolute path of the host file. */
  host: string;
  /** Who the host file was at load: an open that finds another file (or a changed one) is refused. */
  identity: HostIdentity;
}

export interface DirNode {
  kind: 'dir';
  ino: number;
  mtimeNs: bigint;
  /** In the order readdir lists them. */
  entries: Map<string, FsNode>;
}

export type FsNode = FileNode | DirNode;

export interface HostIdentity {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** The guest's device number for every mounted file and folder: one file system. */
export const GUEST_DEV = 1n;

export function emptyDir(ino: number, mtimeNs = 0n): DirNode {
  return { kind: 'dir', ino, mtimeNs, entries: new Map() };
}

/** Why a resolution failed, in terms both guest interfaces map to their own error codes. */
export type LookupError = 'not-found' | 'not-directory' | 'outside' | 'invalid';

/**
 * Resolves a guest path relative to the folder `start`, in the tree and nowhere else. As in
 * wasmtime (cap-std), a path may not leave the folder it is resolved from: an absolute path, or a
 * `..` that climbs above `start`, is `outside`; `a/../b` is fine. A tree holds no symbolic links.
 */
export function lookup(start: DirNode, path: string): FsNode | LookupError {
  if (path.startsWith('/')) return 'outside';
  if (path.includes('\0')) return 'invalid';
  const stack: DirNode[] = [start];
  let node: FsNode = start;
  for (const s of path.split('/')) {
    if (node.kind !== 'dir') return 'not-directory';
    if (s === '' || s === '.') continue;
    if (s === '..') {
      if (stack.length === 1) return 'outside';
      stack.pop();
      node = stack[stack.length - 1]!;
      continue;
    }
    const next: FsNode | undefined = node.entries.get(s);
    if (!next) return 'not-found';
    node = next;
    if (next.kind === 'dir') stack.push(next);
  }
  return node;
}
