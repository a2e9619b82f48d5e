import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { VergeError } from '../errors.js';
import { CappedBuffer, LineSink, STDERR_LIMITS } from './output.js';

const enc = (s: string) => new TextEncoder().encode(s);

function pattern(length: number, seed = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

function tooLarge(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VergeError, `expected a VergeError, got ${String(err)}`);
    assert.equal(err.code, 'RESPONSE_TOO_LARGE');
    return err.message;
  }
  assert.fail('expected RESPONSE_TOO_LARGE');
}

describe('CappedBuffer', () => {
  test('starts empty', () => {
    const b = new CappedBuffer();
    assert.equal(b.length, 0);
    assert.equal(b.view().length, 0);
  });

  test('refuses any byte before reset gives it a cap', () => {
    const b = new CappedBuffer();
    tooLarge(() => b.write(enc('x')));
    b.write(new Uint8Array(0));
    assert.equal(b.length, 0);
  });

  test('collects writes in order', () => {
    const b = new CappedBuffer();
    b.reset(1000);
    b.write(enc('Content-Type: text/plain\n'));
    b.write(enc('\n'));
    b.write(enc('hello'));
    assert.equal(b.length, 31);
    assert.equal(Buffer.from(b.view()).toString(), 'Content-Type: text/plain\n\nhello');
  });

  test('accepts writes up to exactly the cap', () => {
    const b = new CappedBuffer();
    b.reset(10);
    b.write(enc('12345'));
    b.write(enc('67890'));
    assert.equal(b.length, 10);
    b.write(new Uint8Array(0));
    assert.equal(b.length, 10);
  });

  test('throws RESPONSE_TOO_LARGE naming the cap for the write that passes it, keeping what came before', () => {
    const b = new CappedBuffer();
    b.reset(10);
    b.write(enc('12345678'));
    const msg = tooLarge(() => b.write(enc('abc')));
    assert.match(msg, /more than 10 bytes/);
    assert.equal(b.length, 8);
    assert.equal(Buffer.from(b.view()).toString(), '12345678');
  });

  test('throws for a single write larger than the cap', () => {
    const b = new CappedBuffer();
    b.reset(4);
    tooLarge(() => b.write(enc('12345')));
    assert.equal(b.length, 0);
  });

  test('grows past its initial 64 KiB and keeps every byte', () => {
    const b = new CappedBuffer();
    b.reset(10 * 1024 * 1024);
    const first = pattern(60 * 1024, 1);
    const second = pattern(200 * 1024, 2);
    const third = pattern(1, 3);
    b.write(first);
    b.write(second);
    b.write(third);
    assert.equal(b.length, first.length + second.length + third.length);
    assert.deepEqual(b.view(), Uint8Array.from([...first, ...second, ...third]));
  });

  test('grows in many small writes', () => {
    const b = new CappedBuffer();
    b.reset(1024 * 1024);
    const chunk = pattern(1000, 5);
    for (let i = 0; i < 300; i++) b.write(chunk);
    assert.equal(b.length, 300_000);
    const view = b.view();
    for (let i = 0; i < 300; i++) assert.deepEqual(view.subarray(i * 1000, (i + 1) * 1000), chunk);
  });

  test('grows up to a cap that is not a power of two', () => {
    const b = new CappedBuffer();
    const cap = 100_001;
    b.reset(cap);
    b.write(pattern(cap));
    assert.deepEqual(b.view(), pattern(cap));
    tooLarge(() => b.write(enc('x')));
  });

  test('copies what it is given, so later changes to the source do not leak in', () => {
    const b = new CappedBuffer();
    b.reset(100);
    const src = enc('abc');
    b.write(src);
    src[0] = 0x7a;
    assert.equal(Buffer.from(b.view()).toString(), 'abc');
  });

  test('reads a source view with an offset', () => {
    const b = new CappedBuffer();
    b.reset(100);
    const backing = enc('xxhelloxx');
    b.write(backing.subarray(2, 7));
    assert.equal(Buffer.from(b.view()).toString(), 'hello');
  });

  test('reset empties it and applies the new cap', () => {
    const b = new CappedBuffer();
    b.reset(100);
    b.write(enc('first request'));
    b.reset(3);
    assert.equal(b.length, 0);
    assert.equal(b.view().length, 0);
    assert.equal(b.cap, 3);
    b.write(enc('abc'));
    tooLarge(() => b.write(enc('d')));
    assert.equal(Buffer.from(b.view()).toString(), 'abc');
  });

  test('reset after a big response still works and starts from zero length', () => {
    const b = new CappedBuffer();
    b.reset(8 * 1024 * 1024);
    b.write(pattern(3 * 1024 * 1024));
    b.reset(8 * 1024 * 1024);
    assert.equal(b.length, 0);
    b.write(enc('small'));
    assert.equal(Buffer.from(b.view()).toString(), 'small');
    b.write(pattern(2 * 1024 * 1024, 9));
    assert.equal(b.length, 5 + 2 * 1024 * 1024);
    assert.deepEqual(b.view().subarray(5), pattern(2 * 1024 * 1024, 9));
  });
});

describe('LineSink', () => {
  function sink() {
    const lines: string[] = [];
    const s = new LineSink((line) => lines.push(line));
    return { s, lines };
  }

  test('emits each complete line without its newline', () => {
    const { s, lines } = sink();
    s.write(enc('one\ntwo\nthree\n'));
    assert.deepEqual(lines, ['one', 'two', 'three']);
  });

  test('strips a trailing carriage return', () => {
    const { s, lines } = sink();
    s.write(enc('dos line\r\nunix line\n'));
    assert.deepEqual(lines, ['dos line', 'unix line']);
  });

  test('keeps a partial line until its newline arrives', () => {
    const { s, lines } = sink();
    s.write(enc('hel'));
    assert.deepEqual(lines, []);
    s.write(enc('lo wo'));
    s.write(enc('rld\nnext'));
    assert.deepEqual(lines, ['hello world']);
  });

  test('flush emits a pending partial line once', () => {
    const { s, lines } = sink();
    s.write(enc('no newline at the end'));
    s.flush();
    s.flush();
    assert.deepEqual(lines, ['no newline at the end']);
  });

  test('flush with nothing pending emits nothing', () => {
    const { s, lines } = sink();
    s.write(enc('done\n'));
    s.flush();
    assert.deepEqual(lines, ['done']);
  });

  test('emits empty lines', () => {
    const { s, lines } = sink();
    s.write(enc('a\n\nb\n'));
    assert.deepEqual(lines, ['a', '', 'b']);
  });

  test('decodes UTF-8', () => {
    const { s, lines } = sink();
    s.write(enc('café ✓ 😀\n'));
    assert.deepEqual(lines, ['café ✓ 😀']);
  });

  test('decodes a UTF-8 character split across two writes', () => {
    const { s, lines } = sink();
    const bytes = enc('né\n');
    s.write(bytes.subarray(0, 2));
    s.write(bytes.subarray(2));
    assert.deepEqual(lines, ['né']);
  });

  test('reads a source view with an offset', () => {
    const { s, lines } = sink();
    s.write(enc('xxline\nxx').subarray(2, 7));
    assert.deepEqual(lines, ['line']);
  });

  test('cuts a line longer than the line limit and marks the cut', () => {
    const { s, lines } = sink();
    const long = 'x'.repeat(STDERR_LIMITS.maxLineBytes + 100);
    s.write(enc(long + '\nshort\n'));
    assert.equal(lines.length, 2);
    assert.equal(lines[0], 'x'.repeat(STDERR_LIMITS.maxLineBytes) + '…');
    assert.equal(lines[1], 'short');
  });

  test('keeps a line exactly at the line limit whole', () => {
    const { s, lines } = sink();
    const exact = 'y'.repeat(STDERR_LIMITS.maxLineBytes);
    s.write(enc(exact + '\n'));
    assert.deepEqual(lines, [exact]);
  });

  test('does not hold an unterminated line longer than the limit in memory', () => {
    const { s, lines } = sink();
    s.write(enc('z'.repeat(STDERR_LIMITS.maxLineBytes + 1)));
    assert.equal(lines.length, 1);
    assert.ok(lines[0]!.startsWith('z'.repeat(STDERR_LIMITS.maxLineBytes)));
    assert.ok(lines[0]!.endsWith('…'));
  });

  test('stops after the line budget with a single truncation notice', () => {
    const { s, lines } = sink();
    for (let i = 0; i < STDERR_LIMITS.maxLines; i++) s.write(enc(`line ${i}\n`));
    assert.equal(lines.length, STDERR_LIMITS.maxLines);
    assert.ok(!lines.some((l) => l.includes('truncated')), 'no notice while within budget');
    s.write(enc('one too many\nand more\n'));
    s.write(enc('still more\n'));
    s.write(enc('partial'));
    s.flush();
    assert.equal(lines.length, STDERR_LIMITS.maxLines + 1);
    assert.equal(lines.at(-1), `[verge: stderr truncated after ${STDERR_LIMITS.maxLines} lines]`);
    assert.equal(lines.filter((l) => l.includes('truncated')).length, 1);
  });

  test('stops within a single write that holds too many lines', () => {
    const { s, lines } = sink();
    s.write(enc('l\n'.repeat(STDERR_LIMITS.maxLines + 50)));
    assert.equal(lines.length, STDERR_LIMITS.maxLines + 1);
    assert.match(lines.at(-1)!, /stderr truncated/);
  });

  test('a flushed partial line counts toward the budget', () => {
    const { s, lines } = sink();
    s.write(enc('l\n'.repeat(STDERR_LIMITS.maxLines)));
    s.write(enc('tail'));
    s.flush();
    assert.equal(lines.length, STDERR_LIMITS.maxLines + 1);
    assert.match(lines.at(-1)!, /stderr truncated/);
  });

  test('reset restores the budget and drops a pending partial line', () => {
    const { s, lines } = sink();
    s.write(enc('l\n'.repeat(STDERR_LIMITS.maxLines + 1)));
    s.write(enc('left over'));
    s.reset();
    lines.length = 0;
    s.write(enc('fresh\n'));
    s.flush();
    assert.deepEqual(lines, ['fresh']);
    for (let i = 0; i < STDERR_LIMITS.maxLines - 1; i++) s.write(enc('x\n'));
    assert.equal(lines.length, STDERR_LIMITS.maxLines);
    assert.ok(!lines.some((l) => l.includes('truncated')));
  });

  test('reset drops a partial line of the previous request', () => {
    const { s, lines } = sink();
    s.write(enc('half of a li'));
    s.reset();
    s.write(enc('next request\n'));
    assert.deepEqual(lines, ['next request']);
  });
});
