import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { ErrorCode } from '../errors.js';
import { vergeError } from '../../test/support/verge-error.js';
import { bundleId } from './id.js';
import type { BundleLimits } from './limits.js';
import { packBundle, packBundleToFile, type PackOptions } from './pack.js';
import { unpackBundle } from './unpack.js';

function tempDir(prefix = 'verge-pack-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

function manifest(components: Record<string, string>): string {
  let toml = '[application]\nname = "shop"\n';
  for (const [name, source] of Object.entries(components)) toml += `\n[[route]]\npath = "/${name}/..."\ncomponent = "${name}"\n\n[component.${name}]\nsource = ${JSON.stringify(source)}\n`;
  return toml;
}

/** An app folder: a manifest and its files (path → bytes). */
function writeAppDir(files: Record<string, string | Buffer>, dir = tempDir()): string {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

function sampleApp(): string {
  return writeAppDir({
    'verge.toml': manifest({ api: 'target/release/api.wasm', web: 'web.wasm' }),
    'target/release/api.wasm': Buffer.alloc(70_000, 0xa1),
    'web.wasm': Buffer.from('web module'),
    'src/notes.txt': 'not referenced: not packed',
  });
}

async function packToBuffer(target: string, opts?: PackOptions): Promise<{ bytes: Buffer; result: Awaited<ReturnType<typeof packBundle>> }> {
  const parts: Buffer[] = [];
  const out = new Writable({ write: (chunk: Buffer, _e, done) => (parts.push(chunk), done()) });
  const result = await packBundle(target, out, opts);
  return { bytes: Buffer.concat(parts), result };
}

async function refused(target: string, code: ErrorCode, message: RegExp, opts?: PackOptions): Promise<void> {
  const outDir = tempDir('verge-pack-out-');
  await assert.rejects(packBundleToFile(target, path.join(outDir, 'app.vbundle'), opts), vergeError(code, message));
  assert.deepEqual(readdirSync(outDir), [], 'no bundle and no temp file written');
}

test('an app packs into a bundle that unpacks to the same files and the same id', async () => {
  const app = sampleApp();
  const { bytes, result } = await packToBuffer(app);
  assert.equal(result.bytes, bytes.length);
  assert.deepEqual(result.files.map((f) => [f.path, f.size]), [['target/release/api.wasm', 70_000], ['verge.toml', readFileSync(path.join(app, 'verge.toml')).length], ['web.wasm', 10]]);
  assert.equal(result.id, bundleId(result.files));

  const dest = path.join(tempDir(), 'app');
  const unpacked = await unpackBundle(Readable.from([bytes]), dest);
  assert.equal(unpacked.id, result.id);
  assert.deepEqual(unpacked.files, result.files);
  for (const f of result.files) assert.ok(readFileSync(path.join(dest, f.path)).equals(readFileSync(path.join(app, f.path))), f.path);
});

test('tar(1) extracts a bundle to the files of the app', async () => {
  const app = sampleApp();
  const { bytes, result } = await packToBuffer(app);
  const dest = tempDir();
  execFileSync('tar', ['-xzf', '-', '-C', dest], { input: bytes });
  for (const f of result.files) assert.ok(readFileSync(path.join(dest, f.path)).equals(readFileSync(path.join(app, f.path))), f.path);
  assert.deepEqual(readdirSync(dest).sort(), ['target', 'verge.toml', 'web.wasm']);
});

test('the same app gives the same bytes, wherever it is and whatever its files\' times', async () => {
  const app = sampleApp();
  const first = await packToBuffer(app);
  const elsewhere = path.join(tempDir(), 'copy');
  cpSync(app, elsewhere, { recursive: true });
  utimesSync(path.join(elsewhere, 'web.wasm'), new Date(0), new Date(0));
  const second = await packToBuffer(path.join(elsewhere, 'verge.toml'));
  assert.ok(first.bytes.equals(second.bytes));
  assert.equal(second.result.id, first.result.id);
});

test('a manifest by another name goes in as verge.toml, and a module two components share goes in once', async () => {
  const app = writeAppDir({ 'prod.toml': manifest({ a: 'shared.wasm', b: './shared.wasm' }), 'shared.wasm': 'one module' });
  const { bytes, result } = await packToBuffer(path.join(app, 'prod.toml'));
  assert.deepEqual(result.files.map((f) => f.path), ['shared.wasm', 'verge.toml']);
  const unpacked = await unpackBundle(Readable.from([bytes]), path.join(tempDir(), 'app'));
  assert.equal(readFileSync(unpacked.manifestFile, 'utf8'), readFileSync(path.join(app, 'prod.toml'), 'utf8'));
});

test('extra files go in at their app-relative paths; one outside the folder is refused', async () => {
  const app = sampleApp();
  const { result } = await packToBuffer(app, { extraFiles: ['src/notes.txt'] });
  assert.ok(result.files.some((f) => f.path === 'src/notes.txt'));
  await refused(app, 'BUNDLE_INVALID', /extra file "\.\.\/secret": its path has a "\.\." segment/, { extraFiles: ['../secret'] });
  await refused(app, 'BUNDLE_INVALID', /extra file "\/etc\/passwd": its path is absolute/, { extraFiles: ['/etc/passwd'] });
  await refused(app, 'BUNDLE_INVALID', /extra file "WEB\.wasm": .* goes in the bundle as "WEB\.wasm", but it is the same path as "web\.wasm" on a case-insensitive file system/, { extraFiles: ['WEB.wasm'] });
});

test('a module outside the app folder, or named by an absolute path, is refused with the component and its path', async () => {
  const parent = tempDir();
  writeFileSync(path.join(parent, 'outside.wasm'), 'x');
  const app = writeAppDir({ 'verge.toml': manifest({ web: '../outside.wasm' }) }, path.join(parent, 'app'));
  await refused(app, 'BUNDLE_INVALID', /component web: source "\.\.\/outside\.wasm" is outside the app folder: its path has a "\.\." segment/);
  const absolute = writeAppDir({ 'verge.toml': manifest({ web: '/ABS/web.wasm' }), 'web.wasm': 'x' });
  writeFileSync(path.join(absolute, 'verge.toml'), manifest({ web: path.join(absolute, 'web.wasm') }));
  await refused(absolute, 'BUNDLE_INVALID', /component web: source ".*web\.wasm" is absolute: a bundled app names its modules relative to verge\.toml/);
});

test("a path dependency's file goes in beside the modules, is needed when unpacking, and may not lie outside the folder", async () => {
  const deps = '\n[component.web.dependencies]\n"acme:auth/verify" = { path = "deps/auth.wasm" }\n';
  const app = writeAppDir({ 'verge.toml': manifest({ web: 'web.wasm' }) + deps, 'web.wasm': 'web', 'deps/auth.wasm': 'auth' });
  const { bytes, result } = await packToBuffer(app);
  assert.deepEqual(result.files.map((f) => f.path), ['deps/auth.wasm', 'verge.toml', 'web.wasm']);
  await unpackBundle(Readable.from([bytes]), path.join(tempDir(), 'app'));

  const parent = tempDir();
  writeFileSync(path.join(parent, 'auth.wasm'), 'x');
  const outside = writeAppDir({ 'verge.toml': manifest({ web: 'web.wasm' }) + deps.replace('deps/auth.wasm', '../auth.wasm'), 'web.wasm': 'web' }, path.join(parent, 'app'));
  await refused(outside, 'BUNDLE_INVALID', /dependency "acme:auth\/verify" of component web: path "\.\.\/auth\.wasm" is outside the app folder/);
});

test('a module reached through a symbolic link out of the app folder is refused; a link inside it is followed', async () => {
  const outside = writeAppDir({ 'secret.wasm': 'not yours', 'lib/x.wasm': 'x' });
  const app = writeAppDir({ 'verge.toml': manifest({ web: 'web.wasm' }) });
  symlinkSync(path.join(outside, 'secret.wasm'), path.join(app, 'web.wasm'));
  await refused(app, 'BUNDLE_INVALID', new RegExp(`component web: .*web\\.wasm resolves through a symbolic link to .*secret\\.wasm, outside the app folder`));

  const viaFolder = writeAppDir({ 'verge.toml': manifest({ web: 'lib/x.wasm' }) });
  symlinkSync(path.join(outside, 'lib'), path.join(viaFolder, 'lib'));
  await refused(viaFolder, 'BUNDLE_INVALID', /resolves through a symbolic link to .*lib\/x\.wasm, outside the app folder/);

  const inside = writeAppDir({ 'verge.toml': manifest({ web: 'current.wasm' }), 'builds/v2.wasm': 'v2' });
  symlinkSync('builds/v2.wasm', path.join(inside, 'current.wasm'));
  const { result } = await packToBuffer(inside);
  assert.deepEqual(result.files.map((f) => [f.path, f.size]), [['current.wasm', 2], ['verge.toml', result.files[1]!.size]]);
});

test('a missing module or one that is not a regular file is refused', async () => {
  await refused(writeAppDir({ 'verge.toml': manifest({ web: 'out/web.wasm' }) }), 'BUNDLE_INVALID', /component web: .*out\/web\.wasm cannot be read \(ENOENT\); build the app first/);
  const folder = writeAppDir({ 'verge.toml': manifest({ web: 'web.wasm' }), 'web.wasm/inner': 'x' });
  await refused(folder, 'BUNDLE_INVALID', /component web: .*web\.wasm is not a regular file/);
  await refused(tempDir(), 'MANIFEST_INVALID', /there is no verge\.toml here/);
});

test('files over the per-file, total or entry caps are refused before anything is written', async () => {
  const app = sampleApp();
  await refused(app, 'BUNDLE_TOO_LARGE', /component api: .*api\.wasm is 70000 bytes, over the per-file limit of 65536 bytes/, { limits: { maxFileBytes: 65536 } });
  await refused(app, 'BUNDLE_TOO_LARGE', /the app's files add up to \d+ bytes, over the bundle limit of 70000 bytes/, { limits: { maxTotalBytes: 70_000 } });
  await refused(app, 'BUNDLE_TOO_LARGE', /the bundle would have 5 files and folders, over the limit of 4/, { limits: { maxEntries: 4 } } satisfies { limits: Partial<BundleLimits> });
});

test('packing to a file replaces it in one step and leaves no temp file', async () => {
  const outDir = tempDir('verge-pack-out-');
  const out = path.join(outDir, 'shop.vbundle');
  writeFileSync(out, 'an older bundle');
  const result = await packBundleToFile(sampleApp(), out);
  assert.deepEqual(readdirSync(outDir), ['shop.vbundle']);
  assert.equal(readFileSync(out).length, result.bytes);
  const unpacked = await unpackBundle(Readable.from([readFileSync(out)]), path.join(tempDir(), 'app'));
  assert.equal(unpacked.id, result.id);
});

test('an output folder that does not exist is named in the error', async () => {
  const out = path.join(tempDir(), 'missing', 'shop.vbundle');
  await assert.rejects(packBundleToFile(sampleApp(), out), { message: `cannot write the bundle to ${out} (ENOENT)` });
});
