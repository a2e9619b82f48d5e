import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isVergeError } from '../errors.js';
import { MAX_END_PADDING, readTar } from './tar-reader.js';
import { tarStream, type TarFile } from './tar-writer.js';
import { END_BLOCKS, rawEntry } from '../../test/support/ustar.js';

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function readAll(bytes: Buffer, chunkSize = bytes.length || 1): Promise<Array<{ path: string; type: string; data: Buffer }>> {
  const out = [];
  for await (const e of readTar(chunked(bytes, chunkSize))) {
    const parts: Buffer[] = [];
    for await (const c of e.data()) parts.push(c);
    out.push({ path: e.path, type: e.type, data: Buffer.concat(parts) });
  }
  return out;
}

async function writeAll(files: Array<{ path: string; data: Buffer }>): Promise<Buffer> {
  const entries: TarFile[] = files.map((f) => ({ path: f.path, size: f.data.length, read: async function* () { yield f.data; } }));
  const parts: Buffer[] = [];
  for await (const chunk of tarStream(entries)) parts.push(chunk);
  return Buffer.concat(parts);
}

async function refusal(bytes: Buffer): Promise<string> {
  try {
    await readAll(bytes);
  } catch (err) {
    assert.ok(isVergeError(err, 'BUNDLE_INVALID'), String(err));
    return err.message;
  }
  assert.fail('the archive was accepted');
}

const files = [0, 1, 511, 512, 513, 100_003].map((n, i) => ({ path: `dir${i % 2}/file-${n}.bin`, data: Buffer.from(Array.from({ length: n }, (_, j) => (j * 31 + i) & 0xff)) }));

test('files written by tarStream read back with the same paths and bytes, however the stream is chunked', async () => {
  const archive = await writeAll(files);
  for (const chunk of [1, 7, 512, 4096, archive.length]) {
    const read = await readAll(archive, chunk);
    assert.deepEqual(read.map((e) => e.path), files.map((f) => f.path), `chunks of ${chunk}`);
    for (const [i, e] of read.entries()) assert.ok(e.data.equals(files[i]!.data), `${e.path} in chunks of ${chunk}`);
  }
});

test('an entry left unread, or read in part, is skipped, and the next one reads whole', async () => {
  const archive = await writeAll(files);
  const whole = new Map<string, Buffer>();
  let i = 0;
  for await (const e of readTar(chunked(archive, 100))) {
    const mode = i++ % 3;
    if (mode === 0) continue; // not read at all
    const parts: Buffer[] = [];
    for await (const c of e.data()) {
      parts.push(c);
      if (mode === 1) break; // one chunk, then on to the next entry
    }
    if (mode === 2) whole.set(e.path, Buffer.concat(parts));
  }
  assert.equal(i, files.length);
  assert.equal(whole.size, 2);
  for (const [p, data] of whole) assert.ok(data.equals(files.find((f) => f.path === p)!.data), p);
});

test('tar(1) lists what tarStream writes, and readTar reads what tar(1) writes in ustar format', async () => {
  const archive = await writeAll(files);
  const listing = execFileSync('tar', ['-tvf', '-'], { input: archive, encoding: 'utf8' });
  for (const f of files) assert.match(listing, new RegExp(`\\s${f.data.length} .*${f.path.replace('.', '\\.')}$`, 'm'));

  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-tar-'));
  mkdirSync(path.join(dir, 'sub'));
  writeFileSync(path.join(dir, 'verge.toml'), 'x = 1\n');
  writeFileSync(path.join(dir, 'sub', 'web.wasm'), Buffer.alloc(1000, 7));
  const gnu = execFileSync('tar', ['--format=ustar', '-cf', '-', '-C', dir, 'verge.toml', 'sub']);
  const read = await readAll(gnu, 333);
  assert.deepEqual(read.map((e) => [e.path, e.type, e.data.length]), [['verge.toml', 'file', 6], ['sub', 'directory', 0], ['sub/web.wasm', 'file', 1000]]);
});

test('a stream that ends early is refused as truncated, wherever it ends', async () => {
  const entry = rawEntry({ name: 'web.wasm' }, Buffer.alloc(700, 1));
  assert.match(await refusal(entry.subarray(0, 300)), /truncated: it ends inside the header at byte 0/);
  assert.match(await refusal(entry.subarray(0, 512 + 200)), /truncated: entry "web\.wasm" declares 700 bytes but the stream ends after 200/);
  assert.match(await refusal(entry.subarray(0, 512 + 800)), /truncated: it ends inside the padding after entry "web\.wasm"/);
  assert.match(await refusal(entry), /truncated: it ends without the two zero blocks/);
  assert.match(await refusal(Buffer.concat([entry, END_BLOCKS.subarray(0, 512)])), /truncated: it ends inside the second of the two zero blocks/);
});

test('a declared size larger than the data is found where the bytes run out', async () => {
  const lying = rawEntry({ name: 'web.wasm', size: 5000 }, 'short');
  assert.match(await refusal(Buffer.concat([lying, END_BLOCKS])), /declares 5000 bytes but the stream ends after 1536/);
});

test('a declared size smaller than the data makes the rest a corrupt header, which is refused', async () => {
  const lying = rawEntry({ name: 'web.wasm', size: 3 }, 'x'.repeat(600));
  assert.match(await refusal(Buffer.concat([lying, END_BLOCKS])), /entry at byte 1024 \("x+"\): the header checksum field is not an octal number/);
});

test('tar(1) padding after the end is accepted; more padding, or any non-zero byte after the end, is refused', async () => {
  const entry = rawEntry({ name: 'a' }, 'a');
  assert.equal((await readAll(Buffer.concat([entry, END_BLOCKS, Buffer.alloc(MAX_END_PADDING)]))).length, 1);
  assert.match(await refusal(Buffer.concat([entry, END_BLOCKS, Buffer.alloc(MAX_END_PADDING + 1)])), /more than 10240 bytes of zero padding after the end/);
  assert.match(await refusal(Buffer.concat([entry, END_BLOCKS, Buffer.alloc(100), Buffer.from('garbage')])), /non-zero bytes at byte 2148, after the end of the archive/);
  assert.match(await refusal(Buffer.concat([entry, END_BLOCKS.subarray(0, 512), entry])), /non-zero bytes after the zero block at byte 1024 that ends the archive/);
});
