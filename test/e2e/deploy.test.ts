/**
 * Deploys through the real CLI and a real node: upload, activate, canary shares, sticky keys,
 * ramps and rollbacks under load, automatic rollback, persistence across restarts and kill -9,
 * and the admin API's token.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const TOKEN = randomBytes(24).toString('hex');

function answering(text: string, status = 200): Promise<Uint8Array> {
  return wat(`(module ${FD_WRITE} (memory 1) ${respondWith(`content-type: text/plain\nstatus: ${status}\n\n${text}`)}
    (func (export "_start") (call $respond)))`);
}

async function shopApp(text: string, status = 200): Promise<string> {
  return writeApp('shop', { web: { wasm: await answering(text, status), route: '/...' } });
}

interface Answer {
  status: number;
  body: string;
  version: string;
  headers: http.IncomingHttpHeaders;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, version: String(res.headers['x-verge-version'] ?? ''), headers: res.headers }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')));
  });
}

/** `token`: null sends none. */
async function admin(node: VergeProcess, method: string, p: string, body?: unknown, token: string | null = TOKEN): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${node.adminUrl}${p}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** `n` requests, `concurrency` at a time; every answer. */
async function burst(url: string, n: number, concurrency = 16, headers?: (i: number) => Record<string, string>): Promise<Answer[]> {
  const out: Answer[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        out[i] = await get(url, headers?.(i));
      }
    }),
  );
  return out;
}

/** Requests in a loop until stopped; counts what did not answer 200. */
function loadLoop(url: string): { stop(): Promise<{ total: number; failed: Answer[] }> } {
  let running = true;
  let total = 0;
  const failed: Answer[] = [];
  const loops = Array.from({ length: 4 }, async () => {
    while (running) {
      const a = await get(url).catch((err: Error) => ({ status: 0, body: err.message, version: '', headers: {} }));
      total++;
      if (a.status !== 200) failed.push(a);
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { total, failed };
    },
  };
}

async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('deploys through the admin API', () => {
  let node: VergeProcess;
  let dataDir: string;
  let tokenFile: string;
  const dirs: Record<string, string> = {};
  const ids: Record<string, string> = {};

  const deployArgs = (dir: string, ...more: string[]) => ['deploy', dir, '--to', node.adminUrl!, '--token-file', tokenFile, ...more];

  async function deploy(dir: string, ...more: string[]): Promise<string> {
    const r = await runVerge(deployArgs(dir, ...more));
    assert.equal(r.code, 0, `verge deploy failed:\n${r.stderr}`);
    return r.stdout.trim();
  }

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deploy-data-'));
    tokenFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-token-')), 'token');
    writeFileSync(tokenFile, TOKEN + '\n', { mode: 0o600 });
    dirs.one = await shopApp('one');
    dirs.two = await shopApp('two');
    dirs.broken = await shopApp('broken', 500);
    node = await startVerge('', ['--data-dir', dataDir, '--workers', '2'], { admin: true, env: { VERGE_ADMIN_TOKEN: TOKEN } });
  });

  after(async () => {
    agent.destroy();
    await node?.stop();
  });

  test('an admin call without the token, or with a wrong one, is refused with 401 and changes nothing', async () => {
    for (const token of [null, 'x'.repeat(48)]) {
      const r = await admin(node, 'GET', '/v1/apps', undefined, token);
      assert.equal(r.status, 401);
      assert.equal(r.json.error, 'ADMIN_UNAUTHORIZED');
    }
    const r = await runVerge(['deploy', dirs.one!, '--to', node.adminUrl!], { env: { VERGE_ADMIN_TOKEN: '' } });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /ADMIN_UNAUTHORIZED/);
    assert.equal((await get(`${node.url}/`)).status, 404, 'nothing was deployed');
  });

  test('verge deploy uploads, activates and prints the version id; every response names the version that served it', async () => {
    ids.one = await deploy(dirs.one!, '--health', '/');
    assert.match(ids.one, /^[0-9a-f]{64}$/);
    const a = await get(`${node.url}/anything`);
    assert.equal(a.body, 'one');
    assert.equal(a.version, ids.one.slice(0, 12));
    const apps = await admin(node, 'GET', '/v1/apps');
    assert.deepEqual((apps.json.apps as Array<{ name: string }>).map((x) => x.name), ['shop']);
  });

  test('uploading the same bundle again is idempotent: the same version, 200 instead of 201', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-b-')), 'shop.vbundle');
    const b = await runVerge(['bundle', dirs.one!, '-o', out]);
    assert.equal(b.code, 0, b.stderr);
    const bytes = readFileSync(out);
    const first = await admin(node, 'POST', '/v1/apps/shop/versions', bytes);
    assert.equal(first.status, 200, 'uploaded by the deploy before');
    assert.equal((first.json.version as { id: string }).id, ids.one);
    assert.equal(first.json.created, false);
  });

  test('a canary at 10 % serves its share of 2,000 requests within a binomial bound', async () => {
    ids.two = await deploy(dirs.two!, '--weight', '10');
    const answers = await burst(`${node.url}/`, 2000);
    const two = answers.filter((a) => a.body === 'two').length;
    assert.equal(answers.filter((a) => a.body !== 'one' && a.body !== 'two').length, 0);
    const sigma = Math.sqrt(2000 * 0.1 * 0.9);
    assert.ok(Math.abs(two - 200) < 4 * sigma, `the canary served ${two} of 2000`);
    for (const a of answers) assert.equal(a.version, (a.body === 'two' ? ids.two! : ids.one!).slice(0, 12));
  });

  test('with a sticky header each of 100 keys gets the same version every time', async () => {
    const put = await admin(node, 'PUT', '/v1/apps/shop/deployment', {
      versions: [
        { id: ids.one, weight: 50 },
        { id: ids.two, weight: 50 },
      ],
      sticky: { kind: 'header', name: 'x-user' },
    });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    const seen = new Map<string, Set<string>>();
    const answers = await burst(`${node.url}/`, 500, 16, (i) => ({ 'x-user': `user-${i % 100}` }));
    answers.forEach((a, i) => {
      const key = `user-${i % 100}`;
      if (!seen.has(key)) seen.set(key, new Set());
      seen.get(key)!.add(a.body);
    });
    assert.equal(seen.size, 100);
    for (const [key, versions] of seen) assert.equal(versions.size, 1, `${key} saw ${[...versions].join(' and ')}`);
    const onTwo = [...seen.values()].filter((v) => v.has('two')).length;
    assert.ok(onTwo > 20 && onTwo < 80, `${onTwo} of 100 keys on the second version at 50 %`);
  });

  test('the override header picks a version only when the request carries the admin token', async () => {
    const forced = await burst(`${node.url}/`, 20, 4, () => ({ 'x-verge-version': ids.two!.slice(0, 12), 'x-verge-admin-token': TOKEN }));
    assert.ok(forced.every((a) => a.body === 'two'));
    const ignored = await burst(`${node.url}/`, 200, 8, () => ({ 'x-verge-version': ids.two!.slice(0, 12), 'x-verge-admin-token': 'wrong'.repeat(8) }));
    assert.ok(ignored.some((a) => a.body === 'one'), 'a wrong token is ignored, not an error');
    assert.ok(ignored.every((a) => a.status === 200));
  });

  test('ramping 10 → 50 → 100 % and rolling back under a running load loop fails no request', async () => {
    const loop = loadLoop(`${node.url}/`);
    await deploy(dirs.two!, '--weight', '10');
    await deploy(dirs.two!, '--weight', '50');
    await deploy(dirs.two!);
    const all = await burst(`${node.url}/`, 50);
    assert.ok(all.every((a) => a.body === 'two'), 'at 100 % only the new version serves');
    const rb = await runVerge(['rollback', 'shop', '--to', node.adminUrl!, '--token-file', tokenFile]);
    assert.equal(rb.code, 0, rb.stderr);
    const { total, failed } = await loop.stop();
    assert.ok(total > 50, `the loop ran ${total} requests`);
    assert.deepEqual(failed, []);
    const after = await burst(`${node.url}/`, 100);
    assert.ok(after.some((a) => a.body === 'one'), 'the rollback restored the split before 100 %');
  });

  test('rolling back to a named version serves it alone', async () => {
    const rb = await runVerge(['rollback', 'shop', ids.one!.slice(0, 10), '--to', node.adminUrl!, '--token-file', tokenFile]);
    assert.equal(rb.code, 0, rb.stderr);
    const answers = await burst(`${node.url}/`, 50);
    assert.ok(answers.every((a) => a.body === 'one'));
  });

  test('versions lists ids, sizes and which are live; an unused version can be deleted, a live one cannot', async () => {
    const list = await runVerge(['versions', 'shop', '--from', node.adminUrl!, '--token-file', tokenFile]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`${ids.one!.slice(0, 12)} .* 100 `));
    assert.match(list.stdout, new RegExp(`${ids.two!.slice(0, 12)} `));
    const live = await admin(node, 'DELETE', `/v1/apps/shop/versions/${ids.one}`);
    assert.equal(live.status, 409);
    assert.equal(live.json.error, 'VERSION_IN_USE');
    const unused = await admin(node, 'DELETE', `/v1/apps/shop/versions/${ids.two}`);
    assert.equal(unused.status, 200, JSON.stringify(unused.json));
    assert.equal((await admin(node, 'GET', `/v1/apps/shop/versions/${ids.two}`)).status, 404);
    assert.equal(existsSync(path.join(dataDir, 'apps', 'shop', 'versions', ids.two!)), false);
  });

  test('a canary answering 500s is rolled back automatically, and status says why; a healthy one is not', async () => {
    ids.two = await deploy(dirs.two!, '--weight', '50');
    await burst(`${node.url}/`, 300);
    assert.equal(((await admin(node, 'GET', '/v1/apps/shop/status')).json.auto_rollbacks as unknown[]).length, 0, 'a healthy canary stays');

    ids.broken = await deploy(dirs.broken!, '--weight', '30');
    await waitFor('the broken canary to be rolled back', 20_000, async () => {
      await burst(`${node.url}/`, 40);
      const s = await admin(node, 'GET', '/v1/apps/shop/status');
      const v = (s.json.versions as Array<{ id: string; weight: number }>).find((x) => x.id === ids.broken);
      return v?.weight === 0;
    });
    const status = await runVerge(['status', 'shop', '--from', node.adminUrl!, '--token-file', tokenFile]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`rolled back automatically .*${ids.broken.slice(0, 12)}: 5xx rate`));
    const after = await burst(`${node.url}/`, 100);
    assert.ok(after.every((a) => a.status === 200), 'the broken version takes no more traffic');
    assert.ok(node.logs().some((l) => l.msg === 'canary rolled back automatically'));
    const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
    assert.match(metrics, /verge_canary_rollbacks_total\{app="shop"\} 1/);
  });

  test('a deploy to an app name the bundle does not carry is refused and stores nothing', async () => {
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-b-')), 'x.vbundle');
    assert.equal((await runVerge(['bundle', dirs.one!, '-o', out])).code, 0);
    const r = await admin(node, 'POST', '/v1/apps/other/versions', readFileSync(out));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'APP_MISMATCH');
    assert.deepEqual(readdirSync(path.join(dataDir, 'apps', 'other', 'versions')), []);
  });

  test('a hostile bundle is refused with its rule and writes nothing outside the store', async () => {
    const r = await admin(node, 'POST', '/v1/apps/shop/versions', Buffer.from('definitely not a gzip stream'));
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'BUNDLE_INVALID');
    assert.deepEqual(readdirSync(path.join(dataDir, 'apps', 'shop', 'versions')).filter((n) => n.startsWith('.')), []);
  });
});

describe('a node restarted after deploys', () => {
  test('serves the last activated deployment after a restart, and never a version whose upload was cut by kill -9', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deploy-restart-'));
    const env = { VERGE_ADMIN_TOKEN: TOKEN };
    let node = await startVerge('', ['--data-dir', dataDir], { admin: true, env });
    const one = await shopApp('one');
    const r = await runVerge(['deploy', one, '--to', node.adminUrl!], { env });
    assert.equal(r.code, 0, r.stderr);
    const id = r.stdout.trim();

    // Half an upload, then kill -9 while the node is reading it.
    const big = await writeApp('shop', { web: { wasm: await answering('big'), route: '/...' }, pad: { wasm: await answering('x'.repeat(2000)), route: '/pad' } });
    const out = path.join(mkdtempSync(path.join(os.tmpdir(), 'verge-b-')), 'big.vbundle');
    assert.equal((await runVerge(['bundle', big, '-o', out])).code, 0);
    const bytes = readFileSync(out);
    const u = new URL(`${node.adminUrl}/v1/apps/shop/versions`);
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-length': bytes.length } });
    req.on('error', () => undefined);
    req.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
    await waitFor('the upload to start', 5000, async () => readdirSync(path.join(dataDir, 'apps', 'shop', 'versions')).some((n) => n.startsWith('.')));
    node.proc.kill('SIGKILL');
    await new Promise((resolve) => node.proc.once('exit', resolve));

    node = await startVerge('', ['--data-dir', dataDir], { admin: true, env });
    try {
      const a = await get(`${node.url}/`);
      assert.equal(a.body, 'one');
      assert.equal(a.version, id.slice(0, 12));
      const versions = (await admin(node, 'GET', '/v1/apps/shop/versions')).json.versions as Array<{ id: string }>;
      assert.deepEqual(versions.map((v) => v.id), [id]);
      assert.deepEqual(readdirSync(path.join(dataDir, 'apps', 'shop', 'versions')).filter((n) => n.startsWith('.')), [], 'the half upload was cleared');
    } finally {
      await node.stop();
    }
  });

  test('a stored version whose files were edited on disk is not served after a restart', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deploy-edit-'));
    const env = { VERGE_ADMIN_TOKEN: TOKEN };
    let node = await startVerge('', ['--data-dir', dataDir], { admin: true, env });
    const r = await runVerge(['deploy', await shopApp('one'), '--to', node.adminUrl!], { env });
    assert.equal(r.code, 0, r.stderr);
    await node.stop();
    const wasm = path.join(dataDir, 'apps', 'shop', 'versions', r.stdout.trim(), 'web.wasm');
    writeFileSync(wasm, await answering('tampered'));
    node = await startVerge('', ['--data-dir', dataDir], { admin: true, env });
    try {
      assert.equal((await get(`${node.url}/`)).status, 404);
      assert.ok(node.logs().some((l) => l.error === 'VERSION_CORRUPT'), 'the log says why');
    } finally {
      await node.stop();
    }
  });
});

describe('the admin listener', () => {
  test('off loopback it refuses to start without a token', async () => {
    const r = await runVerge(['up', '--listen', '127.0.0.1:0', '--admin', '0.0.0.0:0'], { env: { VERGE_ADMIN_TOKEN: '' }, cwd: os.tmpdir() });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ADMIN_TOKEN_REQUIRED/);
  });

  test('off loopback /metrics needs the token too', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deploy-metrics-'));
    const node = await startVerge('', ['--data-dir', dataDir, '--admin', '0.0.0.0:0'], { env: { VERGE_ADMIN_TOKEN: TOKEN } });
    try {
      const adminUrl = /metrics: (http:\/\/\S+)\/metrics/.exec(node.stderr())![1]!.replace('0.0.0.0', '127.0.0.1');
      assert.equal((await fetch(`${adminUrl}/metrics`)).status, 401);
      const ok = await fetch(`${adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(ok.status, 200);
      assert.match(await ok.text(), /verge_requests_total/);
    } finally {
      await node.stop();
    }
  });
});

describe('a node that trusts signing keys', () => {
  test('takes only bundles signed by a trusted key, refuses a revoked key at once, and checks stored versions again at start', async () => {
    const keys = mkdtempSync(path.join(os.tmpdir(), 'verge-keys-'));
    for (const name of ['trusted', 'stranger']) {
      const k = await runVerge(['keygen', '-o', path.join(keys, name)]);
      assert.equal(k.code, 0, k.stderr);
    }
    const revocations = path.join(keys, 'revoked.txt');
    writeFileSync(revocations, '');
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-deploy-signed-'));
    const env = { VERGE_ADMIN_TOKEN: TOKEN };
    const nodeArgs = ['--data-dir', dataDir, '--trust-key', path.join(keys, 'trusted.pub'), '--revocation-file', revocations];
    let node = await startVerge('', nodeArgs, { admin: true, env });
    try {
      const app = await shopApp('signed');
      const unsigned = await runVerge(['deploy', app, '--to', node.adminUrl!], { env });
      assert.equal(unsigned.code, 3, unsigned.stderr);
      assert.match(unsigned.stderr, /SIGNATURE_MISSING/);
      const stranger = await runVerge(['deploy', app, '--to', node.adminUrl!, '--key', path.join(keys, 'stranger.key')], { env });
      assert.equal(stranger.code, 3, stranger.stderr);
      assert.match(stranger.stderr, /SIGNATURE_UNTRUSTED/);

      const signed = await runVerge(['deploy', app, '--to', node.adminUrl!, '--key', path.join(keys, 'trusted.key')], { env });
      assert.equal(signed.code, 0, signed.stderr);
      assert.equal((await get(`${node.url}/`)).body, 'signed');
      const version = (await admin(node, 'GET', `/v1/apps/shop/versions/${signed.stdout.trim()}`)).json;
      assert.equal((version.signers as string[]).length, 1, 'the signer is recorded');

      // Revoked while running: the next upload is refused, without a restart.
      writeFileSync(revocations, `${(version.signers as string[])[0]}\n`);
      const other = await shopApp('signed again');
      const revoked = await runVerge(['deploy', other, '--to', node.adminUrl!, '--key', path.join(keys, 'trusted.key')], { env });
      assert.equal(revoked.code, 3, revoked.stderr);
      assert.match(revoked.stderr, /KEY_REVOKED/);
      await node.stop();

      // At start the stored version is verified again: its key is revoked now, so it is not served.
      node = await startVerge('', nodeArgs, { admin: true, env });
      assert.equal((await get(`${node.url}/`)).status, 404);
      assert.ok(node.logs().some((l) => l.error === 'KEY_REVOKED' && l.msg === 'stored deployment not served'));
    } finally {
      await node.stop();
    }
  });
});
