/**
 * Request targets a client can spell to climb out of a route, and absolute-form targets, sent as
 * raw bytes: fetch and undici resolve dot segments themselves, so they could never send these.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { environmentEcho, parseEnvironment } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';

interface RawResponse {
  status: number;
  body: string;
  /** The guest's environment, when a guest answered. */
  env: Record<string, string>;
}

async function rawGet(url: string, target: string, host = 'localhost'): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  await once(socket, 'connect');
  let text = '';
  socket.setEncoding('latin1').on('data', (d: string) => (text += d));
  socket.write(`GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 'latin1');
  const guard = setTimeout(() => socket.destroy(), 10_000);
  await once(socket, 'close');
  clearTimeout(guard);
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? NaN);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, body, env: parseEnvironment(body) };
}

describe('request paths that would climb out of a route', () => {
  let node: VergeProcess;
  before(async () => {
    const echo = await environmentEcho();
    node = await startVerge(
      writeApp('paths', {
        files: { route: '/files/...', wasm: echo },
        admin: { route: '/admin/...', wasm: echo },
        users: { route: '/users/:id', wasm: echo },
      }),
    );
  });
  after(async () => {
    await node.stop();
  });

  const RESOLVED: Array<[string, string]> = [
    ['/files/../admin/secret', '/admin/secret'],
    ['/files/a/../../admin', '/admin'],
    ['/files/./../admin', '/admin'],
    ['/files/%2e%2e/admin/secret', '/admin/secret'],
    ['/files/.%2e/admin/secret', '/admin/secret'],
    ['/files/%2E./admin/secret', '/admin/secret'],
    ['/files//..//admin/secret?q=1', '/admin/secret?q=1'],
  ];
  for (const [target, routed] of RESOLVED) {
    test(`${target} is routed as ${routed} and the guest sees only that path`, async () => {
      const res = await rawGet(node.url, target);
      assert.equal(res.status, 200, res.body);
      assert.equal(res.env.X_MATCHED_ROUTE, '/admin/...');
      assert.equal(res.env.REQUEST_URI, routed);
      assert.equal(`${res.env.SCRIPT_NAME}${res.env.PATH_INFO}`, routed.split('?')[0]);
      assert.ok(!res.env.X_FULL_URL?.includes('..'), res.env.X_FULL_URL);
    });
  }

  const REFUSED = [
    '/../admin/secret',
    '/files/../../admin',
    '/files/%2e%2e/%2e%2e/admin',
    '/files/..%2fadmin/secret',
    '/files/..%2Fadmin/secret',
    '/files/a%2fb',
    '/files/..%5cadmin',
    '/files/..\\admin',
    '/users/..%2f..%2fadmin',
    '/users/%2e%2e%5c',
  ];
  for (const target of REFUSED) {
    test(`${target} is refused with 400 PATH_NOT_ALLOWED before any guest runs`, async () => {
      const res = await rawGet(node.url, target);
      assert.equal(res.status, 400, res.body);
      assert.equal((JSON.parse(res.body) as { error: string }).error, 'PATH_NOT_ALLOWED');
    });
  }

  test('a route parameter spelled as a dot segment is resolved away, never passed as ".."', async () => {
    const res = await rawGet(node.url, '/users/7/%2e%2e/8');
    assert.equal(res.status, 200, res.body);
    assert.equal(res.env.X_VERGE_PARAM_ID, '8');
    assert.equal(res.env.REQUEST_URI, '/users/8');
  });

  test('an absolute-form target is routed by its path, and its authority is the host the guest sees', async () => {
    const res = await rawGet(node.url, 'http://example.com:8080/files/a/b?x=1', 'other.example');
    assert.equal(res.status, 200, res.body);
    assert.equal(res.env.X_MATCHED_ROUTE, '/files/...');
    assert.equal(res.env.PATH_INFO, '/a/b');
    assert.equal(res.env.REQUEST_URI, '/files/a/b?x=1');
    assert.equal(res.env.QUERY_STRING, 'x=1');
    assert.equal(res.env.SERVER_NAME, 'example.com');
    assert.equal(res.env.HTTP_HOST, 'example.com:8080');
  });

  test('an absolute-form target is held to the same path rules', async () => {
    const res = await rawGet(node.url, 'http://example.com/files/../../admin');
    assert.equal(res.status, 400, res.body);
    assert.equal((JSON.parse(res.body) as { error: string }).error, 'PATH_NOT_ALLOWED');
  });
});
