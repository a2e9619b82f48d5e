import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isVergeError } from '../../errors.js';
import { CStringListBuilder, Errno, cStringList, createWasiImports, type WasiRequest } from './wasi-p1.js';

type Call = (...args: number[]) => number;

function harness() {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const state: WasiRequest = {
    memory,
    args: cStringList(['guest']),
    env: cStringList([]),
    stdin: new Uint8Array(0),
    stdinOffset: 0,
    stdout: { write() {} },
    stderr: { write() {} },
    startedNs: process.hrtime.bigint(),
  };
  const imports = createWasiImports(() => state);
  const call = (name: string, ...args: number[]) => (imports[name] as unknown as Call)(...args);
  return { memory, call };
}

describe('WASI preview1 errno answers', () => {
  test('socket calls on stdio answer ENOTSOCK, and on a descriptor that is not open EBADF', () => {
    const { call } = harness();
    for (const name of ['sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown']) {
      for (const fd of [0, 1, 2]) assert.equal(call(name, fd, 0, 0, 0, 0, 0), Errno.NOTSOCK, `${name}(${fd})`);
      assert.equal(call(name, 3, 0, 0, 0, 0, 0), Errno.BADF, `${name}(3)`);
    }
  });

  test('positional reads and writes on stdio answer ESPIPE in the stream direction and EBADF against it', () => {
    const { call } = harness();
    assert.equal(call('fd_pread', 0, 0, 0, 0, 0), Errno.SPIPE);
    assert.equal(call('fd_pread', 1, 0, 0, 0, 0), Errno.BADF);
    assert.equal(call('fd_pwrite', 1, 0, 0, 0, 0), Errno.SPIPE);
    assert.equal(call('fd_pwrite', 2, 0, 0, 0, 0), Errno.SPIPE);
    assert.equal(call('fd_pwrite', 0, 0, 0, 0, 0), Errno.BADF);
  });

  test('truncating stdio answers EINVAL and listing it as a directory ENOTDIR', () => {
    const { call } = harness();
    assert.equal(call('fd_filestat_set_size', 1, 0), Errno.INVAL);
    assert.equal(call('fd_readdir', 1, 0, 0, 0, 0), Errno.NOTDIR);
    assert.equal(call('fd_readdir', 5, 0, 0, 0, 0), Errno.BADF);
  });

  test('path calls answer ENOTDIR on stdio and EBADF on a descriptor that is not open', () => {
    const { call } = harness();
    const pathCalls = ['path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link', 'path_open',
      'path_readlink', 'path_remove_directory', 'path_rename', 'path_unlink_file'];
    for (const name of pathCalls) {
      assert.equal(call(name, 3, 0, 0, 0, 0, 0, 0, 0, 0), Errno.BADF, `${name}(3)`);
      assert.equal(call(name, 0, 0, 0, 0, 0, 0, 0, 0, 0), Errno.NOTDIR, `${name}(0)`);
    }
    // path_symlink(old_path, old_path_len, fd, new_path, new_path_len)
    assert.equal(call('path_symlink', 0, 0, 3, 0, 0), Errno.BADF);
    assert.equal(call('path_symlink', 3, 3, 1, 0, 0), Errno.NOTDIR);
  });

  test('an iovec or subscription count whose byte size passes 2^32 is a memory fault, not a size that wraps around (found by fuzzing)', () => {
    const { call } = harness();
    const fault = (name: string, ...args: number[]) =>
      assert.throws(() => call(name, ...args), (err: unknown) => isVergeError(err) && err.code === 'GUEST_MEMORY_FAULT' && err.message.startsWith(`${name}: `));
    fault('fd_read', 0, 5, -0x80000000, 0); // 2^31 iovecs of 8 bytes: 2^34, which is 0 mod 2^32
    fault('fd_write', 1, 0, 0x20000001, 0); // 2^32 + 8 bytes
    fault('poll_oneoff', 0, 1024, 0x5555556, 2048); // 48 bytes each: 2^32 + 32
  });

  test('poll_oneoff refuses a subscription whose tag is not a clock or fd event with EINVAL', () => {
    const { memory, call } = harness();
    const dv = new DataView(memory.buffer);
    dv.setUint8(8, 7); // subscription 0 at offset 0: userdata (8 bytes), then the tag
    assert.equal(call('poll_oneoff', 0, 1024, 1, 2048), Errno.INVAL);
    dv.setUint8(8, 1); // fd_read on stdin is ready at once
    assert.equal(call('poll_oneoff', 0, 1024, 1, 2048), Errno.SUCCESS);
    assert.equal(dv.getUint32(2048, true), 1);
  });
});

describe('the argv and environ builder', () => {
  /** What args_get and environ_get must hand over: each string as UTF-8, NUL-terminated, one after another. */
  const expected = (strings: string[]) => Buffer.concat(strings.map((s) => Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])])));

  test('writes ASCII and other text as UTF-8, NUL-terminated, each at its recorded start', () => {
    const strings = ['', 'REQUEST_METHOD=GET', 'café', '日本語=naïve', '😀 emoji', 'x\ud800 lone surrogate', '\u00e9 first', 'a'.repeat(5000), 'end'];
    const b = new CStringListBuilder();
    for (const s of strings) b.add(s);
    const { bytes, starts } = b.list();
    assert.deepEqual(Buffer.from(bytes), expected(strings));
    let at = 0;
    strings.forEach((s, i) => {
      assert.equal(starts[i], at, `start of string ${i}`);
      at += Buffer.byteLength(s, 'utf8') + 1;
    });
  });

  test('writes a pair as name=value, and starts again empty after reset', () => {
    const b = new CStringListBuilder();
    b.addPair('OLD', 'gone');
    b.reset();
    b.addPair('HTTP_ACCEPT_LANGUAGE', 'fr-CH, fr;q=0.9').addPair('X_VERGE_PARAM_NAME', 'Zoë').addPair('EMPTY', '');
    const { bytes, starts } = b.list();
    assert.deepEqual(Buffer.from(bytes), expected(['HTTP_ACCEPT_LANGUAGE=fr-CH, fr;q=0.9', 'X_VERGE_PARAM_NAME=Zoë', 'EMPTY=']));
    assert.equal(starts.length, 3);
  });
});
