import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { DASHBOARD_CSP, DASHBOARD_DIRS, createAssetHandler, loadAssets } from './assets.js';

describe('dashboard assets', () => {
  let server: http.Server;
  let base: string;
  before(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-assets-'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(path.join(dir, 'dashboard.css'), 'body{}');
    writeFileSync(path.join(dir, 'main.js'), 'export {}');
    writeFileSync(path.join(dir, 'notes.txt'), 'not an asset');
    const serve = createAssetHandler(() => loadAssets({ scripts: dir, static: dir }));
    server = http.createServer((req, res) => {
      if (!serve(req, res, (req.url ?? '/').split('?')[0]!)) res.writeHead(418).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  test('/ is the page, with a policy that allows only the node’s own scripts, styles and API', async () => {
    const res = await fetch(`${base}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(res.headers.get('content-security-policy'), DASHBOARD_CSP);
    assert.match(DASHBOARD_CSP, /script-src 'self';/);
    assert.doesNotMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|\*/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(await res.text(), '<!doctype html><title>t</title>');
  });

  test('scripts and styles are served under /assets/ with their types; HEAD answers without a body', async () => {
    const js = await fetch(`${base}/assets/main.js`);
    assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal(await js.text(), 'export {}');
    const css = await fetch(`${base}/assets/dashboard.css`, { method: 'HEAD' });
    assert.equal(css.status, 200);
    assert.equal(css.headers.get('content-length'), '6');
    assert.equal(await css.text(), '');
  });

  test('anything else under /assets/ is a 404: other files in the folder, climbing out, sub-folders, index.html by name', async () => {
    for (const p of ['/assets/notes.txt', '/assets/..%2Fpackage.json', '/assets/sub/main.js', '/assets/index.html', '/assets/', '/assets/.main.js']) {
      const res = await fetch(`${base}${p}`);
      assert.equal(res.status, 404, p);
      assert.equal(res.headers.get('content-type'), 'application/json', p);
    }
  });

  test('other paths and methods are left to the caller', async () => {
    assert.equal((await fetch(`${base}/index.html`)).status, 418);
    assert.equal((await fetch(`${base}/`, { method: 'POST' })).status, 418);
  });
});

describe('the shipped dashboard', () => {
  test('has its page, styles and entry script, and every script a script imports', async () => {
    const assets = await loadAssets(DASHBOARD_DIRS);
    for (const name of ['index.html', 'dashboard.css', 'main.js']) assert.ok(assets.has(name), `${name} is missing`);
    const html = assets.get('index.html')!.body.toString('utf8');
    for (const [, ref] of html.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)) assert.ok(assets.has(ref!), `index.html refers to ${ref}, which is not served`);
    for (const [name, asset] of assets) {
      if (!name.endsWith('.js')) continue;
      for (const [, ref] of asset.body.toString('utf8').matchAll(/from '\.\/([^']+)'/g)) assert.ok(assets.has(ref!), `${name} imports ./${ref}, which is not served`);
    }
  });

  test('has no inline script or style, which its own policy would block', () => {
    const html = readFileSync(path.join(DASHBOARD_DIRS.static, 'index.html'), 'utf8');
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i);
  });
});
