/**
 * Builds examples/workers-rust (seed 004's handler) with Debian's Rust toolchain through
 * `verge build`, and serves it against a local upstream granted in allowed_outbound_hosts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runVerge, startVerge, type VergeProcess } from '../../../test/support/verge-process.js';

const APP = fileURLToPath(new URL('../../../../examples/workers-rust', import.meta.url));
const MODULE = path.join(APP, 'target', 'wasm32-wasi', 'release', 'workers-rust.wasm');

/** The example's manifest, with the upstream's real address granted to `greet` and to nothing else. */
function manifest(upstream: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-workers-rust-'));
  const component = (name: string, hosts: string) => `
[[route]]
path = "/${name}"
component = "${name}"

[component.${name}]
source = ${JSON.stringify(MODULE)}
allowed_outbound_hosts = [${hosts}]
variables = ["api_url"]
`;
  const toml = `[application]\nname = "workers-rust"\n\n[variables]\napi_url = { default = "${upstream}/status" }\n${component('greet', `"${upstream}"`)}${component('ungranted', '')}`;
  writeFileSync(path.join(dir, 'verge.toml'), toml);
  return dir;
}

describe('examples/workers-rust', () => {
  let node: VergeProcess;
  let upstream: http.Server;
  const seen: string[] = [];
  before(async () => {
    const build = await runVerge(['build', APP]);
    if (build.code !== 0) throw new Error(`verge build exited with ${build.code}:\n${build.stdout}\n${build.stderr}`);
    upstream = http.createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const { port } = upstream.address() as { port: number };
    node = await startVerge(manifest(`http://127.0.0.1:${port}`), ['--log-format', 'json']);
  });
  after(async () => {
    await node?.stop();
    upstream?.close();
  });

  const post = (route: string, body: string) => fetch(`${node.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  test('POST {"name"} calls the upstream from api_url and answers JSON', async () => {
    const res = await post('/greet', '{"name":"Ada"}');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { message: 'Hello, Ada! API responded.', upstream_status: 200 });
    assert.ok(seen.includes('GET /status'), seen.join(', '));
  });

  test('a body without a name is answered 400 INVALID_JSON with the reason', async () => {
    const res = await post('/greet', '{"nom":"Ada"}');
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: string; message: string };
    assert.equal(body.error, 'INVALID_JSON');
    assert.match(body.message, /missing field `name`/);
  });

  test('an upstream the component was not granted is a 500 JSON error with the reason, and logged', async () => {
    const res = await post('/ungranted', '{"name":"Ada"}');
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: string; message: string; request_id: string };
    assert.equal(body.error, 'ACCESS_DENIED');
    assert.match(body.message, /^GET http:\/\/127\.0\.0\.1:\d+\/status: ACCESS_DENIED/);
    assert.equal(body.request_id, res.headers.get('x-request-id'));
    let logged: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && !logged; i++) {
      logged = node.logs().find((r) => r.request_id === body.request_id && r.level === 'error' && String(r.line).startsWith('handler failed with 500 ACCESS_DENIED'));
      if (!logged) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(logged, JSON.stringify(node.logs().filter((r) => r.request_id === body.request_id)));
  });

  test('GET is answered 405', async () => {
    assert.equal((await fetch(`${node.url}/greet`)).status, 405);
  });
});
