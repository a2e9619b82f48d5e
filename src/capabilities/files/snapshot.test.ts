import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { packBundle } from '../../bundle/pack.js';
import { unpackBundle } from '../../bundle/unpack.js';
import { Readable } from 'node:stream';
import { contentId } from '../../loader/app-version.js';
import { fileSource } from '../../node/sources.js';
import type { DirNode } from './tree.js';

function appDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-snapshot-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

const MANIFEST = `[application]\nname = "site"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\nfiles = ["static/**", { source = "conf", destination = "/etc/site" }]\nexclude_files = ["static/drafts/**"]\n`;

const names = (d: DirNode): unknown => Object.fromEntries([...d.entries].map(([n, c]) => [n, c.kind === 'dir' ? names(c) : c.size]));

test('the tree holds the matched files at their guest paths, without excluded files or Verge\'s own .verge folder', async () => {
  const dir = appDir({ 'verge.toml': MANIFEST, 'web.wasm': 'w', 'static/a.html': 'aa', 'static/drafts/x.html': 'x', 'conf/site.json': '{}', 'other.txt': 'o', '.verge/data/default.sqlite': 's' });
  const draft = await fileSource(dir).read();
  assert.deepEqual(names(draft.mounted!.trees.get('web')!), { static: { 'a.html': 2 }, etc: { site: { 'site.json': 2 } } });
  assert.deepEqual(draft.mounted!.listing.map((l) => l.path).sort(), ['conf/site.json', 'static/a.html']);
});

test('mounted files are part of the version: a bundle carries them, and a changed file changes the content id', async () => {
  const dir = appDir({ 'verge.toml': MANIFEST, 'web.wasm': 'w', 'static/a.html': 'aa', 'conf/site.json': '{}' });
  const chunks: Buffer[] = [];
  const packed = await packBundle(dir, new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
  assert.deepEqual(packed.files.map((f) => f.path), ['conf/site.json', 'static/a.html', 'verge.toml', 'web.wasm']);
  const draft = await fileSource(dir).read();
  assert.equal(contentId(draft), packed.id);
  // The unpacked bundle, read as a stored version is, gives the same id and the same tree.
  const unpacked = await unpackBundle(Readable.from([Buffer.concat(chunks)]), path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-unpacked-')), 'v'));
  const stored = await fileSource(unpacked.manifestFile, { only: new Set(unpacked.files.map((f) => f.path)) }).read();
  assert.equal(contentId(stored), packed.id);
  assert.deepEqual(names(stored.mounted!.trees.get('web')!), names(draft.mounted!.trees.get('web')!));
  writeFileSync(path.join(dir, 'static/a.html'), 'ab');
  assert.notEqual(contentId(await fileSource(dir).read()), packed.id);
});
