/**
 * Read-only files end to end, through the real CLI: a C guest (wasi-libc) and a wasi:http
 * component (wasi:filesystem) read, list and stat the files their components mount; the C guest streams a 50 MiB file with 2 MiB of memory, and every way out of
 * the mount or into changing it is refused — `..`, absolute paths, links placed in the folder
 * before or after load, a folder swapped for a link between load and open, a file edited after
 * load, and every kind of write.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeApp } from '../support/app.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';
import { fixtureComponent } from '../support/components.js';

const SOURCE = fileURLToPath(new URL('../../../test/fixtures/files-probe.c', import.meta.url));
const MIB = 1024 * 1024;

function buildProbe(): Uint8Array {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-files-probe-')), 'probe.wasm');
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', out, SOURCE], { stdio: 'inherit' });
  return readFileSync(out);
}

function fnv1a(bytes: Uint8Array): number {
  let h = 2166136261;
  for (const b of bytes) h = Math.imul(h ^ b, 16777619) >>> 0;
  return h;
}

/** An app whose `files` component mounts static/** at /static and config/ at /etc, beside a secret it must never reach. */
function filesApp(wasm: Uint8Array, limits = 'memory_mib = 2, timeout_ms = 20000'): { dir: string; outside: string } {
  const outside = mkdtempSync(path.join(os.tmpdir(), 'verge-outside-'));
  writeFileSync(path.join(outside, 'secret.txt'), 'the secret outside the app\n');
  const dir = writeApp('files', {
    files: { wasm, route: '/...', limits, extra: 'files = ["static/**", { source = "config/", destination = "/etc" }]' },
  });
  mkdirSync(path.join(dir, 'static/css'), { recursive: true });
  mkdirSync(path.join(dir, 'config'));
  mkdirSync(path.join(dir, 'private'));
  writeFileSync(path.join(dir, 'static/index.html'), '<h1>hello</h1>\n');
  writeFileSync(path.join(dir, 'static/css/site.css'), 'body { margin: 0 }\n');
  writeFileSync(path.join(dir, 'config/app.json'), '{"greeting":"hi"}\n');
  writeFileSync(path.join(dir, 'private/key.txt'), 'not mounted\n');
  return { dir, outside };
}

const get = async (node: VergeProcess, op: string, p: string) => {
  const res = await fetch(`${node.url}/${op}?${p}`);
  return { status: res.status, text: await res.text() };
};
const errnoOf = async (node: VergeProcess, op: string, p: string) => {
  const r = await get(node, op, p);
  assert.equal(r.status, 500, `${op} ${p} answered ${r.status} ${r.text}`);
  return (JSON.parse(r.text) as { errno: string }).errno;
};

describe('a WAGI guest reading the files its component mounts', () => {
  let node: VergeProcess;
  let app: { dir: string; outside: string };
  let big: { size: number; fnv: number };
  before(async () => {
    app = filesApp(buildProbe());
    const bytes = Buffer.alloc(50 * MIB);
    for (let i = 0; i < bytes.length; i += 4096) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(path.join(app.dir, 'static/big.bin'), bytes);
    // Worked out before the node starts: 50 MiB of hashing in the test would idle its connections past the node's keep-alive.
    big = { size: bytes.length, fnv: fnv1a(bytes) };
    writeFileSync(path.join(app.dir, 'static/edited.txt'), 'as loaded\n');
    writeFileSync(path.join(app.dir, 'static/swapped.txt'), 'as loaded\n');
    mkdirSync(path.join(app.dir, 'static/swapdir'));
    writeFileSync(path.join(app.dir, 'static/swapdir/inner.txt'), 'inside the mount\n');
    node = await startVerge(app.dir);
  });
  after(async () => {
    await node.stop();
  });

  test('a file mounted by a glob reads at its path under /, and one from a folder mapping at its destination', async () => {
    assert.deepEqual(await get(node, 'read', '/static/index.html'), { status: 200, text: '<h1>hello</h1>\n' });
    assert.deepEqual(await get(node, 'read', 'static/css/site.css'), { status: 200, text: 'body { margin: 0 }\n' });
    assert.deepEqual(await get(node, 'read', '/etc/app.json'), { status: 200, text: '{"greeting":"hi"}\n' });
  });

  test('a mounted folder lists what it holds, and stat gives sizes', async () => {
    const listed = (await get(node, 'list', '/static')).text.split('\n').filter(Boolean).sort();
    assert.deepEqual(listed, ['big.bin', 'css/', 'edited.txt', 'index.html', 'swapdir/', 'swapped.txt']);
    assert.deepEqual((await get(node, 'list', '/')).text.split('\n').filter(Boolean).sort(), ['etc/', 'static/']);
    assert.deepEqual(JSON.parse((await get(node, 'stat', '/etc/app.json')).text).size, 18);
    assert.equal(JSON.parse((await get(node, 'stat', '/static/css')).text).dir, true);
  });

  test('a 50 MiB file streams through a guest with 2 MiB of memory, by read and by pread', async () => {
    const want = { size: big.size, fnv: big.fnv, seek_end: big.size };
    assert.deepEqual(JSON.parse((await get(node, 'sum', '/static/big.bin')).text), want);
    assert.deepEqual(JSON.parse((await get(node, 'psum', '/static/big.bin')).text), want);
  });

  test('files outside the mount are not there: not by "..", nor by an absolute host path, nor an unmounted folder of the app', async () => {
    assert.equal(await errnoOf(node, 'read', '../verge.toml'), 'ENOTCAPABLE');
    assert.equal(await errnoOf(node, 'read', '/static/../../private/key.txt'), 'ENOTCAPABLE');
    assert.equal(await errnoOf(node, 'read', `${app.outside}/secret.txt`), 'ENOENT');
    assert.equal(await errnoOf(node, 'read', `${app.dir}/private/key.txt`), 'ENOENT');
    assert.equal(await errnoOf(node, 'read', '/private/key.txt'), 'ENOENT');
    assert.equal(await errnoOf(node, 'read', '/verge.toml'), 'ENOENT');
  });

  test('every write is refused: EROFS for changes to the mount, EBADF for a write to a descriptor opened for reading', async () => {
    for (const op of ['create', 'append', 'truncate', 'rdwr']) assert.equal(await errnoOf(node, op, '/static/index.html'), 'EROFS', op);
    assert.equal(await errnoOf(node, 'create', '/static/new.txt'), 'EROFS');
    assert.equal(await errnoOf(node, 'mkdir', '/static/newdir'), 'EROFS');
    assert.equal(await errnoOf(node, 'unlink', '/static/index.html'), 'EROFS');
    assert.equal(await errnoOf(node, 'rename', '/static/index.html'), 'EROFS');
    assert.equal(await errnoOf(node, 'symlink', '/static/link'), 'EROFS');
    assert.equal(await errnoOf(node, 'fdwrite', '/static/index.html'), 'EBADF');
    assert.equal(readFileSync(path.join(app.dir, 'static/index.html'), 'utf8'), '<h1>hello</h1>\n');
  });

  test('after load, a link placed in the folder is not there, and a file edited, replaced by a link or a hard link to a file outside, or reached through a folder swapped for a link, is refused with EIO, never read', async () => {
    symlinkSync(path.join(app.outside, 'secret.txt'), path.join(app.dir, 'static/late-link.txt'));
    assert.equal(await errnoOf(node, 'read', '/static/late-link.txt'), 'ENOENT');

    writeFileSync(path.join(app.dir, 'static/edited.txt'), 'edited after load\n');
    assert.equal(await errnoOf(node, 'read', '/static/edited.txt'), 'EIO');

    rmSync(path.join(app.dir, 'static/swapped.txt'));
    symlinkSync(path.join(app.outside, 'secret.txt'), path.join(app.dir, 'static/swapped.txt'));
    assert.equal(await errnoOf(node, 'read', '/static/swapped.txt'), 'EIO');
    rmSync(path.join(app.dir, 'static/swapped.txt'));
    linkSync(path.join(app.outside, 'secret.txt'), path.join(app.dir, 'static/swapped.txt'));
    assert.equal(await errnoOf(node, 'read', '/static/swapped.txt'), 'EIO');

    // The folder is swapped for a link to an outside folder holding a file of the same name.
    mkdirSync(path.join(app.outside, 'swapdir'));
    writeFileSync(path.join(app.outside, 'swapdir/inner.txt'), 'outside the mount\n');
    renameSync(path.join(app.dir, 'static/swapdir'), path.join(app.dir, 'static/swapdir-moved'));
    symlinkSync(path.join(app.outside, 'swapdir'), path.join(app.dir, 'static/swapdir'));
    assert.equal(await errnoOf(node, 'read', '/static/swapdir/inner.txt'), 'EIO');

    const warned = node.logs().filter((r) => r.stream === 'host' && r.level === 'warn').map((r) => String(r.line));
    for (const file of ['edited.txt', 'swapped.txt', 'swapdir/inner.txt']) {
      assert.ok(warned.some((line) => line.includes(`static/${file}`) && /changed after the app version was loaded|cannot be opened any more/.test(line)), `the operator is told about ${file}: ${warned.join('\n')}`);
    }
  });
});

describe('mounts that could lead out of the app are refused at load', () => {
  let wasm: Uint8Array;
  before(() => {
    wasm = buildProbe();
  });

  const check = async (dir: string) => {
    const r = await runVerge(['check', dir]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    return r.stderr + r.stdout;
  };

  test('a symbolic link in a mounted folder, even one pointing inside, stops the load naming the file and the key', async () => {
    const { dir, outside } = filesApp(wasm);
    symlinkSync(path.join(outside, 'secret.txt'), path.join(dir, 'config/secret.txt'));
    const out = await check(dir);
    assert.match(out, /component\.files\.files\[1\]: "config\/secret\.txt" is a symbolic link/);
    const inside = filesApp(wasm);
    symlinkSync('index.html', path.join(inside.dir, 'static/alias.html'));
    assert.match(await check(inside.dir), /component\.files\.files\[0\]: "static\/alias\.html" is a symbolic link/);
  });

  test('a hard link placed in a mounted folder stops the load', async () => {
    const { dir, outside } = filesApp(wasm);
    linkSync(path.join(outside, 'secret.txt'), path.join(dir, 'static/secret.txt'));
    assert.match(await check(dir), /component\.files\.files\[0\]: "static\/secret\.txt" has 2 hard links/);
  });

  test('a missing source, a source or glob outside the app, a relative destination and overlapping destinations stop the load', async () => {
    const cases: Array<[string, RegExp]> = [
      ['files = [{ source = "nothere/", destination = "/x" }]', /files\[0\]\.source: "nothere" cannot be read \(ENOENT\)/],
      ['files = [{ source = "../", destination = "/x" }]', /files\[0\]\.source: "\.\.\/" has a "\.\." segment/],
      ['files = ["../**"]', /files\[0\]: the pattern "\.\.\/\*\*" has a "\.\." segment/],
      ['files = ["/etc/**"]', /files\[0\]: the pattern "\/etc\/\*\*" is absolute/],
      ['files = [{ source = "config/", destination = "etc" }]', /files\[0\]\.destination: "etc" is not absolute/],
      ['files = [{ source = "config/", destination = "/etc" }, { source = "static/", destination = "/etc/static" }]', /files\[1\]\.destination: "\/etc\/static" overlaps "\/etc"/],
    ];
    for (const [files, expected] of cases) {
      const dir = writeApp('files', { files: { wasm, route: '/...', extra: files } });
      mkdirSync(path.join(dir, 'config'));
      mkdirSync(path.join(dir, 'static'));
      assert.match(await check(dir), expected, files);
    }
  });
});

describe('a wasi:http component reading the same mounts through wasi:filesystem', () => {
  let node: VergeProcess;
  let app: { dir: string; outside: string };
  before(async () => {
    app = filesApp(await fixtureComponent('files'), 'memory_mib = 128, timeout_ms = 20000');
    writeFileSync(path.join(app.dir, 'static/big.bin'), Buffer.alloc(3 * MIB, 7));
    node = await startVerge(app.dir, [], { readyMs: 120_000 });
  });
  after(async () => {
    await node.stop();
  });

  const json = async (op: string, p: string) => {
    const res = await fetch(`${node.url}/${op}?${encodeURIComponent(p)}`);
    return { status: res.status, body: (await res.json()) as unknown };
  };

  test('one folder is preopened, at /, and files read by glob path and by folder mapping', async () => {
    assert.deepEqual(await json('preopens', ''), { status: 200, body: ['/'] });
    const res = await fetch(`${node.url}/read?static/index.html`);
    assert.equal(await res.text(), '<h1>hello</h1>\n');
    assert.equal(await (await fetch(`${node.url}/read?etc/app.json`)).text(), '{"greeting":"hi"}\n');
    assert.deepEqual(await json('list', 'static'), { status: 200, body: ['big.bin', 'css/', 'index.html'] });
    assert.deepEqual(await json('stat', 'etc/app.json'), { status: 200, body: { type: 'regular-file', size: 18 } });
  });

  test('a file streams in chunks of at most what the guest asks for', async () => {
    assert.deepEqual(await json('sum', 'static/big.bin'), { status: 200, body: { size: 3 * MIB, chunks: 48 } });
  });

  test('paths out of the mount are not-permitted or no-entry, and opening for writing is read-only', async () => {
    assert.deepEqual(await json('read', '../verge.toml'), { status: 500, body: { error: 'not-permitted' } });
    assert.deepEqual(await json('read', 'static/../../private/key.txt'), { status: 500, body: { error: 'not-permitted' } });
    assert.deepEqual(await json('read', '/static/index.html'), { status: 500, body: { error: 'not-permitted' } });
    assert.deepEqual(await json('read', 'private/key.txt'), { status: 500, body: { error: 'no-entry' } });
    assert.deepEqual(await json('write', 'static/index.html'), { status: 500, body: { error: 'read-only' } });
  });
});
