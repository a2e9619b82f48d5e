/**
 * Readable guest failures through the real CLI: a Rust panic, an AssemblyScript abort and a plain
 * trap each reach the request's log record with the guest's message and a backtrace named from the
 * module's name section; `verge up --dev` puts both in the 500 body too, production never.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { REPO_ROOT, startVerge, type VergeProcess } from '../support/verge-process.js';

const RUST = path.join(REPO_ROOT, 'test', 'fixtures', 'rust-panic');
const AS = path.join(REPO_ROOT, 'test', 'fixtures', 'as-abort');

async function guests() {
  execFileSync('sh', [path.join(REPO_ROOT, 'sdk', 'rust', 'build-wasi.sh'), RUST, 'rust-panic', '', ''], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'asc'), ['assembly/index.ts', '--target', 'release'], { cwd: AS, stdio: 'inherit' });
  return {
    rust: { route: '/rust', wasm: readFileSync(path.join(RUST, 'target', 'wasm32-wasi', 'release', 'rust-panic.wasm')) },
    as: { route: '/as', wasm: readFileSync(path.join(AS, 'build', 'as-abort.wasm')) },
    trap: {
      route: '/trap',
      wasm: await wat(`(module (memory 1) (func $explode unreachable) (func $handle (call $explode)) (func (export "_start") (call $handle)))`, { names: true }),
    },
  };
}

interface FailureBody {
  error: string;
  message: string;
  panic?: string;
  backtrace?: string[];
}

async function failed(node: VergeProcess, route: string): Promise<{ body: FailureBody; record: Record<string, unknown> }> {
  const res = await fetch(`${node.url}${route}`);
  assert.equal(res.status, 500);
  const id = res.headers.get('x-request-id');
  const body = (await res.json()) as FailureBody;
  let record: Record<string, unknown> | undefined;
  for (let i = 0; i < 100 && !record; i++) {
    record = node.logs().find((r) => r.request_id === id && r.msg === 'request failed');
    if (!record) await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(record, `a "request failed" record for ${id}`);
  return { body, record };
}

describe('readable guest failures', () => {
  let dev: VergeProcess;
  let prod: VergeProcess;
  before(async () => {
    const dir = writeApp('guest-failures', await guests());
    [dev, prod] = await Promise.all([startVerge(dir, ['--dev', '--log-format', 'json']), startVerge(dir, ['--log-format', 'json'])]);
  });
  after(async () => {
    await Promise.all([dev?.stop(), prod?.stop()]);
  });

  test('a Rust panic logs its message and a backtrace naming the Rust function', async () => {
    const { record } = await failed(prod, '/rust');
    assert.equal(record.error, 'GUEST_TRAP');
    assert.match(String(record.panic), /panicked at .*quantity must be positive, got 0/);
    const frames = record.backtrace as string[];
    assert.ok(frames.some((f) => /^rust_panic::check_quantity \(wasm-function\[\d+\]:0x[0-9a-f]+\)$/.test(f)), frames.join('\n'));
  });

  test('with --dev the 500 body carries the panic message and the backtrace', async () => {
    const { body } = await failed(dev, '/rust');
    assert.equal(body.error, 'GUEST_TRAP');
    assert.match(body.panic ?? '', /quantity must be positive, got 0/);
    assert.ok(body.backtrace?.some((f) => f.startsWith('rust_panic::check_quantity ')), JSON.stringify(body.backtrace));
  });

  test('without --dev the body has neither', async () => {
    const { body } = await failed(prod, '/rust');
    assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'request_id']);
  });

  test('an AssemblyScript abort logs its message, file and line, and where it aborted', async () => {
    const { record } = await failed(prod, '/as');
    assert.equal(record.error, 'GUEST_EXIT');
    assert.match(String(record.panic), /^abort: quantity must be positive in assembly\/index\.ts\(\d+:\d+\)$/);
    assert.ok((record.backtrace as string[]).some((f) => f.includes('checkQuantity')), JSON.stringify(record.backtrace));
    const { body } = await failed(dev, '/as');
    assert.equal(body.panic, record.panic);
    const { body: prodBody } = await failed(prod, '/as');
    assert.equal(prodBody.panic, undefined);
    assert.equal(prodBody.backtrace, undefined);
  });

  test('a plain trap in a module with a name section names its functions', async () => {
    const { record } = await failed(prod, '/trap');
    assert.equal(record.panic, undefined, 'it said nothing');
    const frames = record.backtrace as string[];
    assert.match(frames[0]!, /^explode \(wasm-function\[0\]:0x[0-9a-f]+\)$/);
    assert.match(frames[1]!, /^handle \(wasm-function\[1\]:0x[0-9a-f]+\)$/);
    const { body } = await failed(dev, '/trap');
    assert.deepEqual(body.backtrace, frames);
  });
});
