/**
 * `verge up --watch`: each app's manifest, its components' module files, the files they mount
 * and their build inputs (`[component.x.build] watch` globs) are watched. A change is debounced, the components whose
 * inputs changed are rebuilt (a build that a newer change makes stale is cancelled), then the app
 * is reloaded in-process: the new version is installed only if it loads, so a failed build or an
 * invalid manifest keeps the old version serving. One line per reload says what changed and how
 * long it took.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { isVergeError } from '../errors.js';
import type { ComponentConfig } from '../manifest/config.js';
import { dependencyFiles } from '../manifest/dependencies.js';
import type { RunningNode } from '../node/start.js';
import type { FileAppSource } from '../node/sources.js';
import { buildComponent } from './build.js';
import { globBase, globToRegExp } from './glob.js';

export const WATCH_DEBOUNCE_MS = 100;

/** Never build inputs: dependencies, VCS data, Verge's own build scratch. */
const IGNORED_SEGMENT = /(^|\/)(node_modules|\.git|\.verge|target)(\/|$)/;

interface Trigger {
  /** A component whose build these files feed; undefined: the manifest or a module file (reload only). */
  component: string | undefined;
  base: string;
  recursive: boolean;
  matches: (relative: string) => boolean;
}

export interface AppWatcher {
  close(): void;
}

export function watchApps(node: RunningNode, say: (line: string) => void): AppWatcher {
  const watchers = node.sources.map((s) => watchApp(node, s, say));
  return { close: () => watchers.forEach((w) => w.close()) };
}

function triggersFor(manifestFile: string, inputs: readonly string[], components: Iterable<ComponentConfig>): Trigger[] {
  const exactly = (file: string, component: string | undefined): Trigger => ({
    component,
    base: path.dirname(file),
    recursive: false,
    matches: (rel) => rel === path.basename(file),
  });
  const triggers: Trigger[] = [exactly(manifestFile, undefined), ...inputs.map((f) => exactly(f, undefined))];
  const appDir = path.dirname(manifestFile);
  const list = [...components];
  // A `path` dependency's file is a module too: a change reloads the app.
  for (const f of dependencyFiles({ components: new Map(list.map((c) => [c.name, c])) })) triggers.push(exactly(f.source, undefined));
  for (const c of list) {
    // Mounted files are part of the version: a change to one reloads the app (no build).
    for (const g of c.files?.globs ?? []) {
      const prefix = g.base === '.' ? '' : `${g.base}/`;
      triggers.push({ component: undefined, base: path.resolve(appDir, g.base), recursive: true, matches: (rel) => g.re.test(prefix + rel) && !(prefix + rel).startsWith('.verge/') });
    }
    for (const m of c.files?.folders ?? []) triggers.push({ component: undefined, base: path.resolve(appDir, m.source), recursive: true, matches: () => true });
    // A built module is a build output: the build that wrote it reloads the app itself.
    if (!c.build) {
      triggers.push(exactly(c.source, undefined));
      continue;
    }
    for (const glob of c.build.watch) {
      const literal = !/[*?{]/.test(glob);
      if (literal) {
        triggers.push(exactly(path.resolve(c.build.workdir, glob), c.name));
        continue;
      }
      const base = globBase(glob);
      const re = globToRegExp(base === '.' ? glob : glob.slice(base.length + 1));
      triggers.push({ component: c.name, base: path.resolve(c.build.workdir, base), recursive: true, matches: (rel) => re.test(rel) && !IGNORED_SEGMENT.test(rel) });
    }
  }
  return triggers;
}

function watchApp(node: RunningNode, source: FileAppSource, say: (line: string) => void): AppWatcher {
  let fsWatchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  let changed = new Map<string, string | undefined>(); // file → component to rebuild
  let running: AbortController | undefined;
  let cycle: Promise<void> = Promise.resolve();
  let lastError: string | undefined;
  let closed = false;
  const rel = (file: string) => path.relative(process.cwd(), file) || file;

  const arm = (components: Iterable<ComponentConfig>) => {
    for (const w of fsWatchers) w.close();
    fsWatchers = [];
    // Several triggers may share a folder: one watcher per (folder, depth), each event checked against all.
    const byBase = new Map<string, Trigger[]>();
    for (const t of triggersFor(source.manifestFile, source.inputs, components)) {
      const key = `${t.recursive ? 'r' : 'f'}:${t.base}`;
      byBase.set(key, [...(byBase.get(key) ?? []), t]);
    }
    for (const [key, triggers] of byBase) {
      const recursive = key.startsWith('r:');
      const base = key.slice(2);
      try {
        const w = watch(base, { recursive }, (_event, name) => {
          if (!name) return;
          const relative = name.split(path.sep).join('/');
          for (const t of triggers) if (t.matches(relative)) note(path.join(base, relative), t.component);
        });
        w.on('error', () => undefined);
        fsWatchers.push(w);
      } catch (err) {
        say(`watch: cannot watch ${rel(base)} (${(err as NodeJS.ErrnoException).code ?? String(err)}); changes there are not seen`);
      }
    }
  };

  const note = (file: string, component: string | undefined) => {
    if (closed) return;
    if (!changed.has(file) || component !== undefined) changed.set(file, component);
    // A newer change to build inputs makes a running build stale.
    if (component !== undefined) running?.abort();
    clearTimeout(timer);
    timer = setTimeout(() => {
      const batch = changed;
      changed = new Map();
      cycle = cycle.then(() => reload(batch));
    }, WATCH_DEBOUNCE_MS);
  };

  const reload = async (batch: Map<string, string | undefined>) => {
    if (closed) return;
    const started = performance.now();
    const abort = new AbortController();
    running = abort;
    const files = [...batch.keys()].map(rel);
    const toBuild = new Set([...batch.values()].filter((c): c is string => c !== undefined));
    try {
      if (toBuild.size > 0) {
        const app = source.load();
        for (const name of toBuild) {
          const c = app.components.get(name);
          if (c) await buildComponent(c, say, { signal: abort.signal, stdout: 'stderr' });
        }
      }
      if (abort.signal.aborted) return;
      const result = await node.reload(source);
      arm(result.version.app.components.values());
      lastError = undefined;
      if (result.kind === 'unchanged') return;
      const ms = Math.round(performance.now() - started);
      const built = toBuild.size > 0 ? `; rebuilt ${[...toBuild].join(', ')}` : '';
      say(`Reloaded ${result.version.app.name} in ${ms} ms: version ${result.version.id.slice(0, 12)} (changed: ${files.join(', ')}${built})`);
    } catch (err) {
      if (abort.signal.aborted) return;
      const message = isVergeError(err) ? `${err.message}\n(${err.code})` : err instanceof Error ? err.message : String(err);
      if (message !== lastError) {
        const serving = node.registry.apps.get(appName());
        say(`Reload failed (changed: ${files.join(', ')}); still serving ${serving ? `version ${serving.id.slice(0, 12)}` : 'the previous version'}:\n${message}`);
      }
      lastError = message;
    } finally {
      if (running === abort) running = undefined;
    }
  };

  const appName = () => [...node.registry.apps.values()].find((v) => v.app.file === source.manifestFile)?.app.name ?? '';
  const serving = [...node.registry.apps.values()].find((v) => v.app.file === source.manifestFile);
  arm(serving ? serving.app.components.values() : []);
  say(`Watching ${rel(source.manifestFile)} and its build inputs`);
  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      running?.abort();
      for (const w of fsWatchers) w.close();
    },
  };
}
