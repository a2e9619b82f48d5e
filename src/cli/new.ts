/**
 * `verge new TEMPLATE NAME` (a new app folder) and `verge add TEMPLATE NAME` (a component and its
 * route in an existing app), both from templates/<template>/.
 *
 * Template files end in .txt (so the repo's tsc and cargo never see them) and may contain
 * {{name}}; `gitignore.txt` becomes `.gitignore`. `app.toml.txt` is not copied: it holds the
 * template's routes and components, which `new` puts under an [application] table and `add`
 * appends to the app's verge.toml, with {{route}}, {{dir}} (the component folder, relative to the
 * manifest, with a trailing "/"; empty for `new`) and {{workdir}} (a `workdir = ...` line, or
 * nothing) filled in. SDK files are copied into the app ("vendored"), so an app builds offline
 * wherever it lives, without a path back into Verge's own folder.
 */
import { VergeError } from '../errors.js';
import { loadManifest, resolveManifestPath } from '../manifest/load.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../package-files.js';

export const TEMPLATES_DIR = packagePath('templates/');
const SDK_DIR = packagePath('sdk/');

/** The routes and components of a template, not copied as a file. */
const APP_TOML = 'app.toml.txt';

interface Template {
  /** One line for `verge new --list`. */
  description: string;
  /** Files or folders from sdk/ copied into the component folder: [under sdk/, path in the folder]. */
  vendored: ReadonlyArray<readonly [string, string]>;
  /** Whether `verge add` can put it into an app: one component on one route. */
  addable: boolean;
  /** The commands from the new folder to a served app, as its README gives them. */
  next: string;
}

/** Every template, in the order `verge new --list` prints them. */
const TEMPLATE_TABLE = {
  'ts-http': { description: 'TypeScript wasi:http component (fetch-event handler), type-checked and componentized by verge build', vendored: [['typescript/wasi.d.ts', 'src/wasi.d.ts']], addable: true, next: 'verge build && verge up' },
  'js-http': { description: 'plain JavaScript wasi:http component, the ts-http toolchain without the type-check', vendored: [], addable: true, next: 'verge build && verge up' },
  rust: { description: 'Rust WAGI handler on the Workers-style verge_sdk::handler! (Debian rustc, offline, small release profile)', vendored: [['rust/Cargo.toml', 'verge-sdk/Cargo.toml'], ['rust/src', 'verge-sdk/src']], addable: true, next: 'verge build && verge up' },
  c: { description: 'C WAGI handler (CGI: headers and body on stdout), built with clang and wasi-libc', vendored: [], addable: true, next: 'verge build && verge up' },
  assemblyscript: { description: 'AssemblyScript WAGI handler on the AssemblyScript verge-sdk', vendored: [['assemblyscript/assembly', 'verge-sdk']], addable: true, next: 'npm install && verge build && verge up' },
  static: { description: 'static file server (C, WAGI) over the read-only files of public/: content types, 404s, no path escape', vendored: [], addable: true, next: 'verge build && verge up' },
  middleware: { description: 'AssemblyScript middleware that answers 401 without the bearer token, else passes on to the component behind it', vendored: [['assemblyscript/assembly', 'verge-sdk']], addable: false, next: 'npm install && verge build && VERGE_VAR_TOKEN=s3cret verge up' },
} as const satisfies Record<string, Template>;

export type TemplateName = keyof typeof TEMPLATE_TABLE;
export const TEMPLATES = Object.keys(TEMPLATE_TABLE) as TemplateName[];

/** `[name, description]` for each template, for `verge new --list`. */
export function listTemplates(): Array<[TemplateName, string]> {
  return TEMPLATES.map((t) => [t, TEMPLATE_TABLE[t].description]);
}

/** Every path under sdk/ that some template copies into an app (the npm package must ship them). */
export function vendoredSdkPaths(): string[] {
  return [...new Set(TEMPLATES.flatMap((t) => TEMPLATE_TABLE[t].vendored.map(([from]) => `sdk/${from}`)))].sort();
}

/** What to run in a new app's folder to serve it, as its README says. */
export function nextSteps(template: TemplateName): string {
  return TEMPLATE_TABLE[template].next;
}

/** The manifest's rule for application and component names (src/manifest/load.ts). */
const NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;
const NAME_EXPECTED = 'lowercase letters, digits, "-" and "_" (at most 64 characters, starting and ending with a letter or digit)';

/** A refusal the user can fix (bad name, folder in the way): a VergeError the CLI prints before exiting 1. */
const refused = (message: string) => new VergeError('SCAFFOLD_REFUSED', message);

export function validateAppName(name: string): void {
  if (!NAME.test(name)) throw refused(`"${name}" is not a valid app name: expected ${NAME_EXPECTED}`);
}

function templateOf(name: string): Template {
  if (!Object.hasOwn(TEMPLATE_TABLE, name)) throw refused(`unknown template "${name}": expected one of ${TEMPLATES.join(', ')} (verge new --list)`);
  return TEMPLATE_TABLE[name as TemplateName];
}

export interface NewAppOptions {
  template: TemplateName;
  name: string;
  /** Where to create it; default ./NAME. */
  dir?: string;
}

/** Writes the app and returns its folder and the files written (relative, sorted). */
export async function newApp(opts: NewAppOptions): Promise<{ dir: string; files: string[] }> {
  templateOf(opts.template);
  validateAppName(opts.name);
  const dir = path.resolve(opts.dir ?? opts.name);
  refuseNonEmpty(dir);

  const files = await renderFiles(opts.template, opts.name);
  const tables = await renderTables(opts.template, { name: opts.name, route: '/...', dir: '' });
  files.push(['verge.toml', `[application]\nname = "${opts.name}"\n\n${tables}`]);
  await writeFiles(dir, files);
  return { dir, files: files.map(([rel]) => rel).sort() };
}

export interface AddComponentOptions {
  template: TemplateName;
  /** The component's name. */
  name: string;
  /** The app: its verge.toml or the folder holding it; default the current folder. */
  app?: string;
  /** The route to serve it on; default /NAME/... */
  route?: string;
  /** The component's folder, relative to the app's folder; default NAME. */
  dir?: string;
}

/**
 * Writes the component's folder and appends its tables to the app's verge.toml (textually, so
 * comments and layout stay), then loads the manifest again: if it no longer loads, the manifest
 * and the folder are put back as they were and the problem is the refusal.
 */
export async function addComponent(opts: AddComponentOptions): Promise<{ manifest: string; dir: string; route: string; files: string[] }> {
  const template = templateOf(opts.template);
  if (!template.addable) throw refused(`the ${opts.template} template is an app of its own: create it with verge new ${opts.template} NAME`);
  if (!NAME.test(opts.name)) throw refused(`"${opts.name}" is not a valid component name: expected ${NAME_EXPECTED}`);
  const manifest = resolveManifestPath(opts.app ?? '.');
  if (path.basename(manifest) !== 'verge.toml') throw refused(`${manifest}: verge add writes to a verge.toml, not a ${path.basename(manifest)}`);
  const app = loadManifest(manifest);
  if (app.components.has(opts.name)) throw refused(`${manifest} already has a component "${opts.name}": choose another NAME`);
  const route = opts.route ?? `/${opts.name}/...`;
  const taken = app.routes.find((r) => r.path === route);
  if (taken) throw refused(`${manifest} already routes ${route} (to ${taken.component}): choose another --route`);

  const rel = path.posix.normalize((opts.dir ?? opts.name).split(path.sep).join('/')).replace(/\/$/, '');
  if (path.posix.isAbsolute(rel) || rel === '.' || rel === '..' || rel.startsWith('../')) {
    throw refused(`${opts.dir}: expected a folder inside the app's folder ${app.dir}`);
  }
  const dir = path.join(app.dir, rel);
  refuseNonEmpty(dir);
  const createdDir = !existsSync(dir);

  const files = await renderFiles(opts.template, opts.name);
  const tables = await renderTables(opts.template, { name: opts.name, route, dir: `${rel}/` });
  const before = await readFile(manifest, 'utf8');
  const after = `${before}${before.endsWith('\n') ? '' : '\n'}\n# verge add ${opts.template} ${opts.name}\n${tables}`;
  await writeFiles(dir, files);
  await writeFile(manifest, after);
  try {
    loadManifest(manifest);
  } catch (err) {
    await writeFile(manifest, before);
    await rm(dir, { recursive: true, force: true });
    if (!createdDir) await mkdir(dir);
    throw refused(`adding ${opts.name} would break ${manifest}, so nothing was changed: ${(err as Error).message}`);
  }
  return { manifest, dir, route, files: files.map(([f]) => f).sort() };
}

/** The template's files (all but app.toml) and its vendored SDK files: [relative path, text]. */
async function renderFiles(template: TemplateName, name: string): Promise<Array<[string, string]>> {
  const source = path.join(TEMPLATES_DIR, template);
  const files: Array<[string, string]> = [];
  for (const rel of await listFiles(source)) {
    if (rel === APP_TOML) continue;
    files.push([targetName(rel), (await readFile(path.join(source, rel), 'utf8')).replaceAll('{{name}}', name)]);
  }
  for (const [from, to] of TEMPLATE_TABLE[template].vendored) {
    const abs = path.join(SDK_DIR, from);
    if (!statSync(abs).isDirectory()) files.push([to, await readFile(abs, 'utf8')]);
    else for (const rel of await listFiles(abs)) files.push([path.posix.join(to, rel), await readFile(path.join(abs, rel), 'utf8')]);
  }
  return files;
}

/** The template's [[route]] and [component.*] tables for a component in `dir` ("" or "sub/"). */
async function renderTables(template: TemplateName, v: { name: string; route: string; dir: string }): Promise<string> {
  const text = await readFile(path.join(TEMPLATES_DIR, template, APP_TOML), 'utf8');
  const workdir = v.dir === '' ? '' : `workdir = ${JSON.stringify(v.dir.replace(/\/$/, ''))}\n`;
  return text.replaceAll('{{name}}', v.name).replaceAll('{{route}}', v.route).replaceAll('{{dir}}', v.dir).replaceAll('{{workdir}}', workdir);
}

async function writeFiles(dir: string, files: Array<[string, string]>): Promise<void> {
  for (const [rel, text] of files) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text, { flag: 'wx' });
  }
}

function refuseNonEmpty(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw refused(`${dir} exists and is not a folder`);
  if (readdirSync(dir).length > 0) throw refused(`${dir} is not empty: refusing to write into it (choose another NAME or folder)`);
}

async function listFiles(root: string, sub = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(path.join(root, sub), { withFileTypes: true })) {
    const rel = path.posix.join(sub, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(root, rel)));
    else out.push(rel);
  }
  return out;
}

/** `src/index.ts.txt` → `src/index.ts`; `gitignore.txt` → `.gitignore`. */
export function targetName(rel: string): string {
  const stripped = rel.replace(/\.txt$/, '');
  const base = path.posix.basename(stripped);
  return base === 'gitignore' ? path.posix.join(path.posix.dirname(stripped), '.gitignore').replace(/^\.\//, '') : stripped;
}
