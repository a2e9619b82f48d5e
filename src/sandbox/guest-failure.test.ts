import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LastWords, demangle, guestFailureDetail, wasmBacktrace } from './guest-failure.js';
import { wat } from '../../test/support/wat.js';

describe('LastWords', () => {
  test('keeps a Rust panic message (old and new formats) without the RUST_BACKTRACE note', () => {
    const w = new LastWords();
    w.line('starting');
    w.line("thread 'main' panicked at 'boom', src/main.rs:9:9");
    w.line('note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace');
    w.line('after');
    assert.equal(w.message, "thread 'main' panicked at 'boom', src/main.rs:9:9");
    w.reset();
    assert.equal(w.message, undefined);
    w.line("thread 'main' panicked at src/main.rs:9:9:");
    w.line('boom');
    w.line('note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace');
    assert.equal(w.message, "thread 'main' panicked at src/main.rs:9:9:\nboom");
  });

  test('keeps an AssemblyScript abort line alone, and only the last failure', () => {
    const w = new LastWords();
    w.line("thread 'main' panicked at 'first', a.rs:1:1");
    w.line('abort: bad in assembly/index.ts(3:3)');
    w.line('more output');
    assert.equal(w.message, 'abort: bad in assembly/index.ts(3:3)');
  });

  test('is bounded whatever the guest prints', () => {
    const w = new LastWords();
    w.line("thread 'main' panicked at 'x', a.rs:1:1");
    for (let i = 0; i < 100; i++) w.line('y'.repeat(100));
    assert.ok(w.message!.split('\n').length <= 16);
    assert.ok(w.message!.length <= 4096);
  });
});

describe('wasmBacktrace', () => {
  const stack = [
    'RuntimeError: unreachable',
    '    at _ZN10rust_panic14check_quantity17h0123456789abcdefE (wasm://wasm/0302f56a:wasm-function[7]:0x25)',
    '    at wasm://wasm/0302f56a:wasm-function[8]:0x29',
    '    at wasm://wasm/0302f56a:wasm-function[9]:0x2e',
    '    at Object.run (file:///x/runner.js:7:22)',
  ].join('\n');

  test('names frames from V8, else from the name section, and leaves the host frames out', () => {
    assert.deepEqual(wasmBacktrace(stack, new Map([[8, 'main']])), [
      'rust_panic::check_quantity (wasm-function[7]:0x25)',
      'main (wasm-function[8]:0x29)',
      'wasm-function[9]:0x2e',
    ]);
  });

  test('symbolizes a module whose name section V8 did not use', async () => {
    const module = new WebAssembly.Module(await wat('(module (func $explode unreachable) (func $main (export "_start") (call $explode)))', { names: true }));
    const unnamed = 'RuntimeError: unreachable\n    at wasm://wasm/1:wasm-function[0]:0x20\n    at wasm://wasm/1:wasm-function[1]:0x24';
    const detail = guestFailureDetail({ stack: unnamed }, module, new LastWords());
    assert.deepEqual(detail, { backtrace: ['explode (wasm-function[0]:0x20)', 'main (wasm-function[1]:0x24)'] });
  });
});

describe('demangle', () => {
  test('reads Rust legacy symbols and wasm-ld demangled ones, and leaves other names alone', () => {
    assert.equal(demangle('_ZN3std9panicking20rust_panic_with_hook17h0123456789abcdefE'), 'std::panicking::rust_panic_with_hook');
    assert.equal(demangle('_ZN4core3ptr42drop_in_place$LT$alloc..string..String$GT$17h0123456789abcdefE'), 'core::ptr::drop_in_place<alloc::string::String>');
    assert.equal(demangle('_ZN55_$LT$verge_sdk..Error$u20$as$u20$core..fmt..Display$GT$3fmt17h0123456789abcdefE'), '<verge_sdk::Error as core::fmt::Display>::fmt');
    assert.equal(demangle('std::rt::lang_start::h0123456789abcdef'), 'std::rt::lang_start');
    assert.equal(demangle('assembly/index/checkQuantity'), 'assembly/index/checkQuantity');
    assert.equal(demangle('_ZN3bad'), '_ZN3bad');
  });
});
