/**
 * `verge new TEMPLATE NAME`: a new app folder from templates/<template>/. Template files end in
 * .txt (so the repo's tsc never compiles them) and may contain {{name}}; `gitignore.txt` becomes
 * `.gitignore`. The TypeScript template also gets the SDK's wasi.d.ts as src/wasi.d.ts.
 */
import { VergeError } from '../errors.js';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEMPLATES_DIR = fileURLToPath(new URL('../../../templates/', import.meta.url));
const SDK_WASI_TYPES = fileURLToPath(new URL('../../../sdk/typescript/wasi.d.ts', import.meta.url));

export const TEMPLATES = ['ts-http'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

/** The manifest's rule for application and component names (src/manifest/load.ts). */
const NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;
const NAME_EXPECTED = 'lowercase letters, digits, "-" and "_" (at most 64 characters, starting and ending with a letter or digit)';

/** Extra files a template gets from elsewhere in the repo: [source, path in the new app]. */
const EXTRA_FILES: Record<TemplateName, Array<[string, string]>> = {
  'ts-http': [[SDK_WASI_TYPES, 'src/wasi.d.ts']],
};

/** A refusal the user can fix (bad name, folder in the way): a VergeError the CLI prints before exiting 1. */
const refused = (message: string) => new VergeError('SCAFFOLD_REFUSED', message);

export function validateAppName(name: string): void {
  if (!NAME.test(name)) throw refused(`"${name}" is not a valid app name: expected ${NAME_EXPECTED}`);
}

export interface NewAppOptions {
  template: TemplateName;
  name: string;
  /** Where to create it; default ./NAME. */
  dir?: string;
}

/** Writes the app and returns its folder and the files written (relative, sorted). */
export async function newApp(opts: NewAppOptions): Promise<{ dir: string; files: string[] }> {
  if (!TEMPLATES.includes(opts.template)) throw refused(`unknown template "${opts.template}": expected one of ${TEMPLATES.join(', ')}`);
  validateAppName(opts.name);
  const dir = path.resolve(opts.dir ?? opts.name);
  refuseNonEmpty(dir);

  const source = path.join(TEMPLATES_DIR, opts.template);
  const files: Array<[string, string]> = [];
  for (const rel of await listFiles(source)) {
    const text = (await readFile(path.join(source, rel), 'utf8')).replaceAll('{{name}}', opts.name);
    files.push([targetName(rel), text]);
  }
  for (const [from, to] of EXTRA_FILES[opts.template]) files.push([to, await readFile(from, 'utf8')]);

  for (const [rel, text] of files) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), text, { flag: 'wx' });
  }
  return { dir, files: files.map(([rel]) => rel).sort() };
}

function refuseNonEmpty(dir: string): void {
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw refused(`${dir} exists and is not a folder`);
  if (readdirSync(dir).length > 0) throw refused(`${dir} is not empty: refusing to write into it (choose another NAME or --dir)`);
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
