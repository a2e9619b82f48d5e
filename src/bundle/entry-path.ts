/**
 * The rule every path in a bundle follows, for packing and unpacking alike: relative, "/"
 * separated, nothing that could reach outside the folder it is unpacked into or mean something
 * else on another file system. Packing applies it too, so Verge never writes a bundle it would
 * refuse.
 */

/** What is wrong with `name` as an entry path ("has a \"..\" segment"), or undefined if nothing. */
export function entryPathProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  // C0 and C1 controls, NUL included: they make names that print as something else.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'has a NUL or control character';
  if (name.includes('\\')) return 'has a backslash (paths use "/")';
  if (name.startsWith('/')) return 'is absolute (paths are relative to the app folder)';
  if (/^[A-Za-z]:/.test(name)) return 'starts with a drive letter (paths are relative to the app folder)';
  for (const segment of name.split('/')) {
    if (segment === '..') return 'has a ".." segment (paths stay inside the app folder)';
    if (segment === '.') return 'has a "." segment (paths are written without them)';
    if (segment === '') return 'has an empty segment ("//", or a "/" at the end)';
  }
  return undefined;
}

/**
 * The key two paths share when a case-insensitive or normalising file system (macOS, Windows)
 * would make them one file: such a pair is a duplicate too.
 */
export function foldPath(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

/** `a/b/c` → `a`, `a/b`: the folders a path needs. */
export function parentPaths(name: string): string[] {
  const parts = name.split('/');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

export type EntryKind = 'file' | 'directory';

/**
 * The paths of one bundle so far, to refuse one that would land where another already is: the
 * same path twice, two paths one file system folds together, or a file that another path needs as
 * a folder.
 */
export class EntryPaths {
  private readonly seen = new Map<string, { kind: EntryKind; path: string; listed: boolean }>();

  /** Files and folders so far, folders counted once whether listed or only needed by a file. */
  get size(): number {
    return this.seen.size;
  }

  /** Records `name`; returns how it clashes with an earlier path, or undefined. */
  add(name: string, kind: EntryKind): string | undefined {
    for (const parent of parentPaths(name)) {
      const earlier = this.seen.get(foldPath(parent));
      if (earlier?.kind === 'file') return `it needs ${JSON.stringify(earlier.path)} as a folder, but that is a file`;
      if (!earlier) this.seen.set(foldPath(parent), { kind: 'directory', path: parent, listed: false });
    }
    const earlier = this.seen.get(foldPath(name));
    if (!earlier) {
      this.seen.set(foldPath(name), { kind, path: name, listed: true });
      return undefined;
    }
    // A folder made for an earlier file may be listed once in its own right.
    if (kind === 'directory' && earlier.kind === 'directory' && !earlier.listed) {
      earlier.listed = true;
      return undefined;
    }
    if (earlier.kind !== kind) return `it is both a file and a folder (${JSON.stringify(earlier.path)})`;
    if (earlier.path === name) return 'it appears twice';
    return `it is the same path as ${JSON.stringify(earlier.path)} on a case-insensitive file system`;
  }
}
