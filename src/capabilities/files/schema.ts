/**
 * `files` and `exclude_files` on a component, as in Spin: a glob string mounts the files it
 * matches at the same path under `/`; `{ source = "dir/", destination = "/path" }` mounts a folder
 * of the app at a guest path. Everything is checked here, before a file is looked at: globs and
 * sources stay inside the app folder, destinations are absolute, and no two mounts overlap.
 */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { describe, isTable } from '../../manifest/fields.js';
import { globBase, globToRegExp } from '../../cli/glob.js';

/** A component's mounts, parsed. Paths of the app are relative to its folder, "/"-separated. */
export interface FileMounts {
  /** Glob strings, each with its compiled form and the folder its matches live under ("." for the app folder). */
  globs: ReadonlyArray<{ pattern: string; re: RegExp; base: string; key: string }>;
  /** Folders mounted at a guest path: `source` relative to the app ("." for the app folder), `destination` absolute and normalised ("/etc"). */
  folders: ReadonlyArray<{ source: string; destination: string; key: string }>;
  /** `exclude_files`: app-relative globs; a file or folder they match is not mounted. */
  exclude: readonly RegExp[];
}

const PATH_RULES = 'a path relative to the app folder, with "/" separators and no "..", "." or empty segments';

/** Why an app-relative path or glob may not be used, or undefined. */
function relativeProblem(p: string): string | undefined {
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'has a control character';
  if (p.includes('\\')) return 'has a backslash (paths use "/")';
  if (p.startsWith('/')) return 'is absolute (mounted files are named relative to the app folder)';
  if (p.split('/').some((s) => s === '..')) return 'has a ".." segment (mounted files stay inside the app folder)';
  if (p.split('/').some((s) => s === '.' || s === '')) return 'has a "." or empty segment';
  return undefined;
}

/** A destination as a normalised absolute guest path, or why it is not one. */
function guestPath(p: string): { path: string } | { problem: string } {
  if (!p.startsWith('/')) return { problem: 'is not absolute: expected a guest path such as "/etc" or "/"' };
  if (/[\u0000-\u001f\u007f\\]/.test(p)) return { problem: 'has a control character or a backslash' };
  const segments = p.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) return { problem: 'has a "." or ".." segment' };
  return { path: '/' + segments.join('/') };
}

/** True when guest path `a` is `b` or inside it, or the other way round. */
function overlaps(a: string, b: string): boolean {
  const inside = (x: string, y: string) => x === y || y === '/' || x.startsWith(y + '/');
  return inside(a, b) || inside(b, a);
}

export function readFileMounts(c: Fields, problems: ManifestProblems): FileMounts | undefined {
  const raw = c.value('files');
  const rawExclude = c.value('exclude_files');
  const filesKey = c.keyPath('files');
  if (raw === undefined) {
    if (rawExclude !== undefined) problems.add(c.keyPath('exclude_files'), 'is set without files: expected files = [...] beside it');
    return undefined;
  }
  if (!Array.isArray(raw)) {
    problems.add(filesKey, `expected an array of glob strings and { source, destination } tables, got ${describe(raw)}`);
    return undefined;
  }
  const globs: Array<FileMounts['globs'][number]> = [];
  const folders: Array<FileMounts['folders'][number]> = [];
  raw.forEach((item: unknown, i) => {
    const key = `${filesKey}[${i}]`;
    if (typeof item === 'string') {
      const pattern = item.endsWith('/') ? item.slice(0, -1) : item;
      const problem = pattern === '' ? 'is empty' : relativeProblem(pattern);
      if (problem) problems.add(key, `the pattern ${JSON.stringify(item)} ${problem}: expected a glob such as "static/**", ${PATH_RULES}`);
      else globs.push({ pattern, re: globToRegExp(pattern), base: globBase(pattern), key });
      return;
    }
    if (!isTable(item)) {
      problems.add(key, `expected a glob string or a table { source = "dir/", destination = "/path" }, got ${describe(item)}`);
      return;
    }
    const unknown = Object.keys(item).filter((k) => k !== 'source' && k !== 'destination');
    if (unknown.length > 0) problems.add(`${key}.${unknown[0]}`, 'unknown key (expected one of: source, destination)');
    const { source, destination } = item as { source?: unknown; destination?: unknown };
    let src: string | undefined;
    if (typeof source !== 'string' || source === '') problems.add(`${key}.source`, `expected a folder of the app such as "config/", got ${describe(source)}`);
    else {
      const trimmed = source === './' || source === '.' ? '.' : source.replace(/\/$/, '');
      const problem = trimmed === '.' ? undefined : relativeProblem(trimmed);
      if (problem) problems.add(`${key}.source`, `${JSON.stringify(source)} ${problem}: expected ${PATH_RULES}`);
      else src = trimmed;
    }
    let dest: string | undefined;
    if (typeof destination !== 'string' || destination === '') problems.add(`${key}.destination`, `expected an absolute guest path such as "/etc", got ${describe(destination)}`);
    else {
      const g = guestPath(destination);
      if ('problem' in g) problems.add(`${key}.destination`, `${JSON.stringify(destination)} ${g.problem}`);
      else dest = g.path;
    }
    if (src === undefined || dest === undefined) return;
    const clash = folders.find((f) => overlaps(f.destination, dest));
    if (clash) problems.add(`${key}.destination`, `${JSON.stringify(dest)} overlaps ${JSON.stringify(clash.destination)} (${clash.key}): expected destinations that are not inside one another`);
    else folders.push({ source: src, destination: dest, key });
  });
  const atRoot = folders.find((f) => f.destination === '/');
  if (atRoot && globs.length > 0) problems.add(`${atRoot.key}.destination`, '"/" overlaps the files the glob patterns mount there: expected a folder below "/"');
  const exclude: RegExp[] = [];
  if (rawExclude !== undefined) {
    for (const [i, pattern] of c.stringList('exclude_files', { expected: `a glob such as "static/drafts/**", ${PATH_RULES}` }).entries()) {
      const problem = relativeProblem(pattern.replace(/\/$/, ''));
      if (problem) problems.add(`${c.keyPath('exclude_files')}[${i}]`, `the pattern ${JSON.stringify(pattern)} ${problem}`);
      else exclude.push(globToRegExp(pattern.replace(/\/$/, '')));
    }
  }
  return Object.freeze({ globs: Object.freeze(globs), folders: Object.freeze(folders), exclude: Object.freeze(exclude) });
}
