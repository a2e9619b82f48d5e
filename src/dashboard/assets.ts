/**
 * The dashboard's page and assets on the admin listener: GET / and GET /assets/NAME. They carry
 * no data, so they need no token: the page asks for it and sends it with every API call. The
 * files ship in the package (no CDN): the HTML and CSS from src/dashboard/web/, the scripts
 * compiled from there into dist/. Read once, on the first request, and kept.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { packagePath } from '../package-files.js';
import type http from 'node:http';

export interface Asset {
  readonly body: Buffer;
  readonly type: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** Nothing but the node's own scripts, styles and API: no inline script, no other origin, no framing. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Where the files are: compiled into dist/ (the scripts; the bundle leaves them there), and in the package's src/ (HTML, CSS). */
export const DASHBOARD_DIRS = Object.freeze({
  scripts: packagePath('dist/src/dashboard/web/'),
  static: packagePath('src/dashboard/web/'),
});

/** name → file: index.html and every script and stylesheet, by file name. */
export async function loadAssets(dirs: { scripts: string; static: string } = DASHBOARD_DIRS): Promise<ReadonlyMap<string, Asset>> {
  const out = new Map<string, Asset>();
  for (const [dir, exts] of [
    [dirs.static, ['.html', '.css', '.svg']],
    [dirs.scripts, ['.js']],
  ] as const) {
    for (const name of await readdir(dir)) {
      const ext = path.extname(name);
      if (!(exts as readonly string[]).includes(ext)) continue;
      out.set(name, { body: await readFile(path.join(dir, name)), type: TYPES[ext]! });
    }
  }
  if (!out.has('index.html')) throw new Error(`the dashboard's index.html is missing from ${dirs.static}`);
  return out;
}

/** Serves `/` and `/assets/NAME`; false for any other path, which the caller answers. */
export function createAssetHandler(load: () => Promise<ReadonlyMap<string, Asset>> = loadAssets) {
  let assets: Promise<ReadonlyMap<string, Asset>> | undefined;
  return (req: http.IncomingMessage, res: http.ServerResponse, urlPath: string): boolean => {
    const name = urlPath === '/' ? 'index.html' : urlPath.startsWith('/assets/') ? urlPath.slice('/assets/'.length) : undefined;
    if (name === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    // A failed read is tried again on the next request rather than cached.
    const pending = (assets ??= load().catch((err: unknown) => {
      assets = undefined;
      throw err;
    }));
    pending.then(
      (files) => {
        const file = /^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) ? files.get(name) : undefined;
        if (!file || (name === 'index.html' && urlPath !== '/')) {
          const body = JSON.stringify({ error: 'NOT_FOUND', message: `the dashboard has no asset ${JSON.stringify(name.slice(0, 100))}` });
          res.writeHead(404, { 'content-type': 'application/json', 'x-content-type-options': 'nosniff' }).end(body);
          return;
        }
        res.writeHead(200, {
          'content-type': file.type,
          'content-length': file.body.length,
          'cache-control': 'no-cache',
          'content-security-policy': DASHBOARD_CSP,
          'x-content-type-options': 'nosniff',
          'x-frame-options': 'DENY',
          'referrer-policy': 'no-referrer',
        });
        res.end(req.method === 'HEAD' ? undefined : file.body);
      },
      (err: Error) => res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'INTERNAL', message: `the dashboard's files cannot be read: ${err.message}` })),
    );
    return true;
  };
}
