/**
 * A C guest built with wasi-libc reports what it sees through Verge's WASI preview1: the CGI
 * environment, stdin, clocks, sleep, random, argv, and no filesystem.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

const SOURCE = fileURLToPath(new URL('../../../test/fixtures/wasi-probe.c', import.meta.url));

function buildProbe(): Uint8Array {
  const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-probe-')), 'probe.wasm');
  execFileSync('clang', ['--target=wasm32-wasi', '--sysroot=/usr', '-O2', '-o', out, SOURCE], { stdio: 'inherit' });
  return readFileSync(out);
}

describe('WASI preview1 as a wasi-libc guest sees it', () => {
  let node: VergeProcess;
  before(async () => {
    node = await startVerge(writeApp('probe', { probe: { route: '/probe/:id/...', wasm: buildProbe() } }));
  });
  after(async () => {
    await node.stop();
  });

  test('the request arrives as CGI variables and the body on stdin', async () => {
    const body = 'hello body';
    const res = await fetch(`${node.url}/probe/a%20b/rest/x?q=1`, {
      method: 'POST',
      headers: { 'x-test': 'yes', 'content-type': 'text/plain' },
      body,
    });
    assert.equal(res.status, 200);
    const seen = (await res.json()) as Record<string, unknown>;
    let sum = 0;
    for (const b of Buffer.from(body)) sum = (Math.imul(sum, 31) + b) >>> 0;
    assert.deepEqual(
      {
        method: seen.method,
        path_info: seen.path_info,
        script_name: seen.script_name,
        query: seen.query,
        content_type: seen.content_type,
        content_length: seen.content_length,
        x_test: seen.x_test,
        param_id: seen.param_id,
        route: seen.route,
        body_bytes: seen.body_bytes,
        body_sum: seen.body_sum,
        argv: seen.argv,
      },
      {
        method: 'POST',
        path_info: '/rest/x',
        script_name: '/probe/a%20b',
        query: 'q=1',
        content_type: 'text/plain',
        content_length: String(body.length),
        x_test: 'yes',
        param_id: 'a b',
        route: '/probe/:id/...',
        body_bytes: body.length,
        body_sum: sum,
        argv: ['/probe/a%20b/rest/x', 'q=1'],
      },
    );
    assert.equal(seen.request_id, res.headers.get('x-request-id'));
  });

  test('clocks, sleep and random work, and the filesystem is not there', async () => {
    const seen = (await (await fetch(`${node.url}/probe/1`)).json()) as Record<string, unknown>;
    assert.ok(Math.abs(Number(seen.realtime_s) - Date.now() / 1000) < 5, 'realtime clock is the wall clock');
    assert.ok(Number(seen.slept_ms) >= 50 && Number(seen.slept_ms) < 1000, `nanosleep(50 ms) slept ${seen.slept_ms} ms`);
    assert.equal(seen.random_ok, true);
    assert.equal(seen.file_opened, false);
    assert.equal(seen.open_errno, 76, 'fopen fails with ENOTCAPABLE: no directory is preopened');
    assert.equal(seen.opendir_failed, true);
  });

  test('argv is the request path and then each query item, raw, as in WAGI', async () => {
    const seen = (await (await fetch(`${node.url}/probe/7?abc=def&name=a%20b+c&flag`)).json()) as Record<string, unknown>;
    assert.deepEqual(seen.argv, ['/probe/7', 'abc=def', 'name=a%20b+c', 'flag']);
  });

  test('socket calls on stdio fail with ENOTSOCK, as the WASI test suite expects', async () => {
    const seen = (await (await fetch(`${node.url}/probe/1`)).json()) as Record<string, unknown>;
    assert.equal(seen.shutdown_errno, 57);
  });

  test('guest stderr lines reach the log with the request id', async () => {
    const res = await fetch(`${node.url}/probe/1?stderr`);
    const id = res.headers.get('x-request-id');
    await res.arrayBuffer();
    const deadline = Date.now() + 2000;
    let lines: unknown[] = [];
    while (Date.now() < deadline) {
      lines = node.logs().filter((l) => l.request_id === id && l.stream === 'stderr').map((l) => l.line);
      if (lines.length === 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(lines, ['probe line 0', 'probe line 1', 'probe line 2']);
  });
});
