/**
 * App versions while serving: a swap under load loses no request and never mixes versions, a
 * version that fails to load never replaces the serving one, and several apps share one node,
 * bound to host names.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { setHosts, writeApp } from '../support/app.js';
import { rssBytes, runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

/** A guest answering `text`, with `pages` of linear memory it touches, so an unloaded version's memory shows in RSS. */
function answering(text: string, pages = 1): Promise<Uint8Array> {
  return wat(`(module ${FD_WRITE} (memory ${pages}) ${respondWith(`content-type: text/plain\n\n${text}`)}
    (func (export "_start")
      (i32.store (i32.const ${pages * 65536 - 4}) (i32.const 1))
      (call $respond)))`);
}

/** Replaces a file in one step, so a watcher never reads half of it. */
function replaceFile(file: string, bytes: Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, file);
}

async function waitFor(what: string, ms: number, check: () => boolean | Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function get(url: string, host?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, headers: host ? { host } : {}, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
    req.end();
  });
}

async function loadedVersions(node: VergeProcess): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  return Number(/^verge_app_versions_loaded (\d+)/m.exec(text)?.[1]);
}

describe('app versions', () => {
  test('replacing the module ten times under load fails no request, never mixes versions, and unloads the old ones', async () => {
    const PAGES = 160; // 10 MiB per instance memory: a version left loaded in 3 workers would show in RSS
    const dir = writeApp('swap', { app: { wasm: await answering('version 0', PAGES), route: '/...' } });
    const source = path.join(dir, 'app.wasm');
    const node = await startVerge(dir, ['--watch', '--workers', '2'], { admin: true });
    try {
      await waitFor('the watcher', 10_000, () => node.stderr().includes('Watching'));
      const bodies: string[] = [];
      const failures: string[] = [];
      let running = true;
      const client = async () => {
        while (running) {
          try {
            const r = await get(`${node.url}/x`);
            if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
            else bodies.push(r.body);
          } catch (err) {
            failures.push(String(err));
          }
        }
      };
      const clients = [client(), client(), client(), client()];
      await waitFor('requests before the first swap', 10_000, () => bodies.length > 20);
      const rssAfterFirst = await rssBytes(node.pid);
      for (let v = 1; v <= 10; v++) {
        replaceFile(source, await answering(`version ${v}`, PAGES));
        await waitFor(`version ${v} to serve`, 20_000, () => bodies.slice(-4).some((b) => b === `version ${v}`));
      }
      const served = bodies.length;
      await waitFor('requests after the last swap', 10_000, () => bodies.length > served + 20);
      running = false;
      await Promise.all(clients);

      assert.deepEqual(failures, [], 'no request failed while versions were swapped');
      const odd = bodies.filter((b) => !/^version (\d|10)$/.test(b));
      assert.deepEqual(odd, [], 'every answer is one whole version');
      assert.equal((node.stderr().match(/Reloaded swap in/g) ?? []).length, 10, node.stderr());
      await waitFor('old versions to be unloaded', 10_000, async () => (await loadedVersions(node)) === 1);
      const grown = (await rssBytes(node.pid)) - rssAfterFirst;
      assert.ok(grown < 120 * 1024 * 1024, `RSS grew by ${Math.round(grown / 1048576)} MiB over ten versions`);
    } finally {
      await node.stop();
    }
  });

  test('a module that fails to load keeps the serving version, says why once, and a fixed one is served', async () => {
    const dir = writeApp('keep', { app: { wasm: await answering('good'), route: '/...' } });
    const source = path.join(dir, 'app.wasm');
    const node = await startVerge(dir, ['--watch']);
    try {
      await waitFor('the watcher', 10_000, () => node.stderr().includes('Watching'));
      replaceFile(source, new Uint8Array([0, 0x61, 0x73, 0x6d, 9, 9]));
      await waitFor('the failure', 10_000, () => node.stderr().includes('Reload failed'));
      assert.match(node.stderr(), /still serving version [0-9a-f]{12}:\ncomponent app \(.*app\.wasm\): .*\n\(MODULE_INVALID\)/);
      assert.deepEqual(await get(`${node.url}/`), { status: 200, body: 'good' });
      replaceFile(source, await answering('fixed'));
      await waitFor('the fixed version', 10_000, async () => (await get(`${node.url}/`)).body === 'fixed');
      assert.equal((node.stderr().match(/Reload failed/g) ?? []).length, 1);
    } finally {
      await node.stop();
    }
  });

  test('an invalid manifest keeps the serving version and names the key', async () => {
    const dir = writeApp('manifest', { app: { wasm: await answering('before'), route: '/...' } });
    const node = await startVerge(dir, ['--watch']);
    try {
      await waitFor('the watcher', 10_000, () => node.stderr().includes('Watching'));
      const toml = path.join(dir, 'verge.toml');
      writeFileSync(toml, '[application]\nname = "manifest"\n[[route]]\npath = "/..."\ncomponent = "missing"\n');
      await waitFor('the failure', 10_000, () => node.stderr().includes('Reload failed'));
      assert.match(node.stderr(), /route\[0\]\.component: no \[component\.missing\] is defined/);
      assert.deepEqual(await get(`${node.url}/`), { status: 200, body: 'before' });
    } finally {
      await node.stop();
    }
  });
});

describe('several apps on one node', () => {
  test('two apps bound to different hosts share a path, and an unknown host gets the 404 JSON', async () => {
    const api = writeApp('api', { api: { wasm: await answering('from api'), route: '/...' } }, '');
    const www = writeApp('www', { www: { wasm: await answering('from www'), route: '/...' } }, '');
    setHosts(api, '["api.example.com"]');
    setHosts(www, '["www.example.com", "*.example.org"]');
    const node = await startVerge(api, [www]);
    try {
      assert.match(node.stderr(), /Serving api, www on/);
      assert.deepEqual(await get(`${node.url}/users`, 'api.example.com:8080'), { status: 200, body: 'from api' });
      assert.deepEqual(await get(`${node.url}/users`, 'WWW.example.com'), { status: 200, body: 'from www' });
      assert.deepEqual(await get(`${node.url}/`, 'shop.example.org'), { status: 200, body: 'from www' });
      const miss = await get(`${node.url}/users`, 'example.net');
      assert.equal(miss.status, 404);
      assert.equal(JSON.parse(miss.body).error, 'NOT_FOUND');
    } finally {
      await node.stop();
    }
  });

  test('an app routing a path another app already routes for the same hosts is refused, naming both and the route', async () => {
    const one = writeApp('one', { a: { wasm: await answering('1'), route: '/api/...' } });
    const two = writeApp('two', { b: { wasm: await answering('2'), route: '/api/...' } });
    const r = await runVerge(['up', one, two, '--listen', '127.0.0.1:0']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /app two: route "\/api\/\.\.\." is already served by app one \(both apps answer every host\)/);
    assert.match(r.stderr, /APP_CONFLICT/);
  });
});

