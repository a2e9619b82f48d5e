/** A node that cannot start stops what it started and exits 1, saying which flag to change. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { upWithin } from '../support/verge-process.js';

describe('a listener that cannot start', () => {
  let app: string;
  let busy: net.Server;
  let busyPort: number;
  before(async () => {
    const wasm = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nok')} (func (export "_start") (call $respond)))`);
    app = writeApp('busy-port', { hello: { route: '/...', wasm } });
    busy = net.createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    busyPort = (busy.address() as net.AddressInfo).port;
  });
  after(() => {
    busy.close();
  });

  for (const flag of ['--admin', '--listen'] as const) {
    test(`a busy ${flag} port stops everything already started and exits 1, naming ${flag} and a way out`, async () => {
      const other = flag === '--admin' ? '--listen' : '--admin';
      const run = await upWithin([app, '--workers', '2', flag, `127.0.0.1:${busyPort}`, other, '127.0.0.1:0'], 20_000);
      assert.equal(run.killed, false, `verge up was still running after ${run.elapsedMs} ms:\n${run.stderr}`);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, new RegExp(`${flag} 127\\.0\\.0\\.1:${busyPort}: cannot listen: the address is already in use`));
      assert.match(run.stderr, new RegExp(`choose another port \\(${flag} 127\\.0\\.0\\.1:0 lets the system pick a free port\\)`));
      assert.match(run.stderr, /\(LISTEN_FAILED\)/);
      assert.doesNotMatch(run.stderr, /Serving /);
    });
  }
});

describe('an app that cannot load', () => {
  test('stops the workers started ahead of it and exits 1 with the reason', async () => {
    const app = writeApp('not-wasm', { hello: { route: '/...', wasm: new TextEncoder().encode('not wasm') } });
    // --workers 2: `verge up` starts two workers before it reads the app.
    const run = await upWithin([app, '--workers', '2', '--listen', '127.0.0.1:0'], 20_000);
    assert.equal(run.killed, false, `verge up was still running after ${run.elapsedMs} ms:\n${run.stderr}`);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /not a valid WebAssembly module/);
    assert.match(run.stderr, /\(MODULE_INVALID\)/);
    assert.doesNotMatch(run.stderr, /Serving /);
  });
});
