import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Errno } from '../../../sandbox/wagi/errno.js';
import { cStringList, createWasiImports, type WasiRequest } from '../../../sandbox/wagi/wasi-p1.js';
import { snapshotFiles } from '../snapshot.js';
import type { AppConfig, ComponentConfig } from '../../../manifest/config.js';
import { FdTable } from './wasi-p1.js';

type Call = (...args: Array<number | bigint>) => number;

/** A folder with a.txt and sub/b.txt, snapshotted as a mount at /, and preview1 over it. */
async function harness() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-p1-files-'));
  writeFileSync(path.join(dir, 'a.txt'), 'hello');
  const sub = path.join(dir, 'sub');
  mkdirSync(sub);
  writeFileSync(path.join(sub, 'b.txt'), 'bee');
  const component = { name: 'c', files: { globs: [], folders: [{ source: '.', destination: '/', key: 'files[0]' }], exclude: [] } } as unknown as ComponentConfig;
  const app = { file: path.join(dir, 'verge.toml'), dir, components: new Map([['c', component]]) } as unknown as AppConfig;
  const root = (await snapshotFiles(app))!.trees.get('c')!;
  const memory = new WebAssembly.Memory({ initial: 1 });
  const warnings: string[] = [];
  const state: WasiRequest = {
    memory,
    args: cStringList([]),
    env: cStringList([]),
    stdin: new Uint8Array(0),
    stdinOffset: 0,
    stdout: { write() {} },
    stderr: { write() {} },
    startedNs: 0n,
    files: new FdTable([{ name: '/', root }], (w) => warnings.push(w)),
  };
  const imports = createWasiImports(() => state);
  const call = (name: string, ...args: Array<number | bigint>) => (imports[name] as unknown as Call)(...args);
  const u8 = () => new Uint8Array(memory.buffer);
  const dv = () => new DataView(memory.buffer);
  /** path_open(3, path) with these flags; returns [errno, fd]. */
  const open = (p: string, oflags = 0, rights = 0b10n, fdflags = 0, dirfd = 3): [number, number] => {
    const bytes = Buffer.from(p);
    u8().set(bytes, 1000);
    const errno = call('path_open', dirfd, 0, 1000, bytes.length, oflags, rights, 0n, fdflags, 2000);
    return [errno, dv().getUint32(2000, true)];
  };
  /** fd_read into 4096.. through one iovec at 3000; returns the text read. */
  const read = (fd: number, len = 64): [number, string] => {
    dv().setUint32(3000, 4096, true);
    dv().setUint32(3004, len, true);
    const errno = call('fd_read', fd, 3000, 1, 3100);
    return [errno, Buffer.from(u8().subarray(4096, 4096 + dv().getUint32(3100, true))).toString()];
  };
  return { dir, call, open, read, u8, dv, warnings, state };
}

describe('the preview1 file system over a mount', () => {
  test('fd 3 is the preopened folder /, and nothing comes after it', async () => {
    const { call, u8, dv } = await harness();
    assert.equal(call('fd_prestat_get', 3, 0), Errno.SUCCESS);
    assert.equal(dv().getUint32(4, true), 1);
    assert.equal(call('fd_prestat_dir_name', 3, 16, 1), Errno.SUCCESS);
    assert.equal(String.fromCharCode(u8()[16]!), '/');
    assert.equal(call('fd_prestat_dir_name', 3, 16, 0), Errno.NAMETOOLONG);
    assert.equal(call('fd_prestat_get', 4, 0), Errno.BADF);
  });

  test('a file opens and reads, in a folder and by a path that climbs back with ..', async () => {
    const { open, read } = await harness();
    const [errno, fd] = open('a.txt');
    assert.equal(errno, Errno.SUCCESS);
    assert.deepEqual(read(fd), [Errno.SUCCESS, 'hello']);
    assert.deepEqual(read(fd), [Errno.SUCCESS, '']);
    const [, fd2] = open('sub/../sub/./b.txt');
    assert.deepEqual(read(fd2), [Errno.SUCCESS, 'bee']);
  });

  test('an absolute path or a .. above the folder answers ENOTCAPABLE, a missing file ENOENT and a file used as a folder ENOTDIR', async () => {
    const { open } = await harness();
    assert.equal(open('/a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(open('../a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(open('sub/../../a.txt')[0], Errno.NOTCAPABLE);
    assert.equal(open('nope.txt')[0], Errno.NOENT);
    assert.equal(open('a.txt/')[0], Errno.NOTDIR);
    // From a folder opened below the preopen, .. may not climb out of it either.
    const [, sub] = open('sub', 2);
    assert.equal(open('b.txt', 0, 2n, 0, sub)[0], Errno.SUCCESS);
    assert.equal(open('../a.txt', 0, 2n, 0, sub)[0], Errno.NOTCAPABLE);
  });

  test('opening for writing, creating, truncating or appending answers EROFS, a folder opened with fd_write EISDIR, and a write to a read descriptor EBADF', async () => {
    const { open, call } = await harness();
    assert.equal(open('a.txt', 0, 1n << 6n)[0], Errno.ROFS);
    assert.equal(open('new.txt', 1)[0], Errno.ROFS);
    assert.equal(open('a.txt', 1 | 4)[0], Errno.EXIST);
    assert.equal(open('a.txt', 8)[0], Errno.ROFS);
    assert.equal(open('a.txt', 0, 2n, 1)[0], Errno.ROFS);
    assert.equal(open('sub', 2, 1n << 6n)[0], Errno.ISDIR);
    const [, fd] = open('a.txt');
    assert.equal(call('fd_write', fd, 0, 0, 0), Errno.BADF);
    for (const name of ['path_create_directory', 'path_unlink_file', 'path_remove_directory', 'path_rename', 'path_link', 'path_filestat_set_times']) {
      assert.equal(call(name, 3, 0, 0, 0, 0, 0, 0), Errno.ROFS, name);
    }
  });

  test('a file changed after the snapshot is refused with EIO at open and the operator is told', async () => {
    const { dir, open, warnings } = await harness();
    writeFileSync(path.join(dir, 'a.txt'), 'changed!');
    assert.equal(open('a.txt')[0], Errno.IO);
    assert.match(warnings[0]!, /a\.txt changed after the app version was loaded/);
  });

  test('seek and tell move within the file, and closing the request closes its host files', async () => {
    const { open, call, dv, read, state } = await harness();
    const [, fd] = open('a.txt');
    assert.equal(call('fd_seek', fd, -2n, 2, 500), Errno.SUCCESS);
    assert.equal(dv().getBigUint64(500, true), 3n);
    assert.deepEqual(read(fd), [Errno.SUCCESS, 'lo']);
    assert.equal(call('fd_seek', fd, -10n, 0, 500), Errno.INVAL);
    state.files!.closeAll();
    assert.equal(call('fd_tell', fd, 500), Errno.BADF);
  });
});
