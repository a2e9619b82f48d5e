/**
 * Logs for people, through the real CLI and a real node: `verge logs --follow` receiving the
 * lines of a request made after it started, GET /v1/logs and its filters, readable lines from
 * `verge logs` and `verge up --log-format pretty`, and the admin token guarding all of it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { FD_WRITE, respondWith, wat, watString } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { variableEcho } from '../support/capability-guests.js';
import { REPO_ROOT, VERGE_BIN, childEnv, runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const TOKEN = randomBytes(24).toString('hex');
const SECRET = `s3cret-${randomBytes(12).toString('hex')}`;
const GUEST_LINE = 'hello from the guest';
/** Starting a CLI process takes a few seconds on a loaded machine; a record then arrives within a turn. */
const WAIT_MS = 20_000;

/** Writes GUEST_LINE to stderr (a guest log record), then answers "ok". */
function chattyGuest(): Promise<Uint8Array> {
  const text = `${GUEST_LINE}\n`;
  return wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nok')}
    (data (i32.const 2048) ${watString(text)})
    (func (export "_start")
      (i32.store (i32.const 16) (i32.const 2048))
      (i32.store (i32.const 20) (i32.const ${Buffer.byteLength(text)}))
      (drop (call $fd_write (i32.const 2) (i32.const 16) (i32.const 1) (i32.const 24)))
      (call $respond)))`);
}

function get(url: string): Promise<{ status: number; requestId: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, requestId: String(res.headers['x-request-id']) }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
  });
}

type Json = Record<string, unknown>;

async function adminGet(node: VergeProcess, p: string, token: string | null = TOKEN): Promise<{ status: number; json: Json }> {
  const res = await fetch(`${node.adminUrl}${p}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, json: (await res.json()) as Json };
}

async function records(node: VergeProcess, query: string): Promise<Json[]> {
  const r = await adminGet(node, `/v1/logs?${query}`);
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json.records as Json[];
}

async function waitFor(what: string, check: () => boolean, ms = WAIT_MS): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A `verge logs` child process; its stdout lines as they come, its stderr, its exit. */
interface LogsProcess {
  proc: ChildProcess;
  lines: string[];
  stderr(): string;
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

function verge(args: string[], env: Record<string, string>): LogsProcess {
  const proc = spawn(process.execPath, [VERGE_BIN, ...args], { cwd: REPO_ROOT, env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  return {
    proc,
    lines,
    stderr: () => err,
    exited,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

/** Exits within WAIT_MS, or is killed and fails the test. */
async function exitWithin(p: LogsProcess): Promise<number | null> {
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), WAIT_MS);
  const code = await p.exited;
  clearTimeout(timer);
  assert.equal(p.proc.signalCode, null, `verge logs did not exit within ${WAIT_MS} ms:\n${p.stderr()}`);
  return code;
}

const follow = (node: VergeProcess, ...more: string[]) => verge(['logs', '--from', node.adminUrl!, '--follow', '--format', 'json', ...more], { VERGE_ADMIN_TOKEN: TOKEN });
const parsed = (p: LogsProcess) => p.lines.map((l) => JSON.parse(l) as Json);

describe('logs through the admin API', () => {
  let node: VergeProcess;
  const running: LogsProcess[] = [];

  before(async () => {
    const dir = writeApp('shop', {
      web: { wasm: await chattyGuest(), route: '/...' },
      boom: { wasm: await wat('(module (memory 1) (func (export "_start") unreachable))'), route: '/boom' },
      secret: { wasm: await variableEcho('api_key'), route: '/secret', extra: 'variables = ["api_key"]' },
      ungranted: { wasm: await variableEcho('api_key'), route: '/ungranted' },
    }, '[variables]\napi_key = { required = true, secret = true }');
    node = await startVerge(dir, ['--workers', '1'], { admin: true, env: { VERGE_ADMIN_TOKEN: TOKEN, VERGE_VAR_API_KEY: SECRET } });
  });

  after(async () => {
    await Promise.all(running.map((p) => p.stop()));
    await node?.stop();
  });

  test('verge logs --follow prints the request line and guest line of a request made after it started, with app and request id', async () => {
    const tail = follow(node, '--limit', '0');
    running.push(tail);
    await waitFor('verge logs to follow', () => /Following the log of/.test(tail.stderr()));
    const { status, requestId } = await get(`${node.url}/hello`);
    assert.equal(status, 200);
    const mine = () => parsed(tail).filter((r) => r.request_id === requestId);
    await waitFor('the request line of the request', () => mine().some((r) => r.msg === 'request'));
    const request = mine().find((r) => r.msg === 'request')!;
    assert.equal(request.app, 'shop');
    assert.equal(request.component, 'web');
    assert.equal(request.status, 200);
    assert.equal(request.level, 'info');
    const guest = mine().find((r) => r.msg === 'guest');
    assert.ok(guest, `no guest line among ${JSON.stringify(mine())}`);
    assert.equal(guest.line, GUEST_LINE);
    assert.equal(guest.app, 'shop');
    assert.equal(guest.version, request.version);
    assert.ok((guest.seq as number) < (request.seq as number), 'in the order they were logged');
    await tail.stop();
  });

  test('verge logs --follow --level warn prints the failed request and nothing below warn', async () => {
    const tail = follow(node, '--limit', '0', '--level', 'warn');
    running.push(tail);
    await waitFor('verge logs to follow', () => /Following the log of/.test(tail.stderr()));
    const ok = await get(`${node.url}/hello`);
    const boom = await get(`${node.url}/boom`);
    assert.equal(boom.status, 500);
    await waitFor('the failed request', () => parsed(tail).some((r) => r.request_id === boom.requestId && r.msg === 'request failed'));
    const got = parsed(tail);
    assert.deepEqual(got.filter((r) => r.level !== 'warn' && r.level !== 'error' && r.level !== 'fatal'), []);
    assert.deepEqual(got.filter((r) => r.request_id === ok.requestId), [], 'the ok request logged nothing at warn');
    const failed = got.find((r) => r.request_id === boom.requestId)!;
    assert.equal(failed.error, 'GUEST_TRAP');
    assert.equal(failed.app, 'shop');
    await tail.stop();
  });

  test('GET /v1/logs filters by request id, level, app and text, newest last', async () => {
    const ok = await get(`${node.url}/hello`);
    const boom = await get(`${node.url}/boom`);
    const ofOk = await records(node, `request_id=${ok.requestId}`);
    assert.deepEqual(ofOk.map((r) => r.msg), ['guest', 'request']);
    assert.ok(ofOk.every((r) => r.request_id === ok.requestId));
    const warnings = await records(node, 'level=warn&app=shop');
    assert.ok(warnings.some((r) => r.request_id === boom.requestId && r.msg === 'request failed'));
    assert.ok(warnings.every((r) => r.level === 'warn' || r.level === 'error' || r.level === 'fatal'));
    assert.ok(!warnings.some((r) => r.request_id === ok.requestId));
    const found = await records(node, `q=${encodeURIComponent(GUEST_LINE.toUpperCase())}&request_id=${ok.requestId}`);
    assert.deepEqual(found.map((r) => r.line), [GUEST_LINE]);
    const all = await records(node, 'limit=3');
    assert.equal(all.length, 3);
    const seqs = all.map((r) => r.seq as number);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'oldest first, newest last');
    assert.equal(all.at(-1)!.request_id, boom.requestId, 'the newest record is the last request');
  });

  test('verge logs prints one readable line per record, ending with the request id', async () => {
    const { requestId } = await get(`${node.url}/hello`);
    const r = await runVerge(['logs', '--from', node.adminUrl!, '--request-id', requestId], { env: { VERGE_ADMIN_TOKEN: TOKEN } });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    assert.match(lines[0]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  shop/web guest stderr: ${GUEST_LINE} version=[0-9a-f]{12} req=${requestId}$`));
    assert.match(lines[1]!, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  shop/web request GET /hello 200 [\\d.]+ms .*req=${requestId}$`));
  });

  test('without the token neither the records nor the stream are given, and verge logs exits 3', async () => {
    for (const token of [null, 'y'.repeat(48)]) {
      for (const query of ['', '?follow=1']) {
        const r = await adminGet(node, `/v1/logs${query}`, token);
        assert.equal(r.status, 401);
        assert.equal(r.json.error, 'ADMIN_UNAUTHORIZED');
      }
    }
    const tail = verge(['logs', '--from', node.adminUrl!, '--follow'], { VERGE_ADMIN_TOKEN: '' });
    running.push(tail);
    assert.equal(await exitWithin(tail), 3);
    assert.match(tail.stderr(), /ADMIN_UNAUTHORIZED/);
    assert.deepEqual(tail.lines, []);
  });

  test("a secret variable's value is in no record, whether the guest is given it or refused it", async () => {
    const given = await get(`${node.url}/secret`);
    assert.equal(given.status, 200);
    const refused = await get(`${node.url}/ungranted`);
    const res = await fetch(`${node.adminUrl}/v1/logs?limit=5000`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const text = await res.text();
    assert.ok(text.includes(given.requestId) && text.includes(refused.requestId), 'the records of both requests are there');
    assert.ok(!text.includes(SECRET), 'the secret is in a record');
    await waitFor('the stdout lines of both requests', () => node.stdout().includes(refused.requestId));
    assert.ok(!node.stdout().includes(SECRET), 'the secret is on stdout');
  });

  test('a misspelt filter is refused with LOGS_QUERY_INVALID rather than ignored', async () => {
    const r = await adminGet(node, '/v1/logs?levle=warn');
    assert.equal(r.status, 400);
    assert.equal(r.json.error, 'LOGS_QUERY_INVALID');
    assert.match(String(r.json.message), /unknown parameter "levle"/);
  });
});

describe('readable logs on the node', () => {
  test('verge up --log-format pretty writes readable lines, not JSON; a follower is told when the node goes away (exit 2)', async () => {
    const dir = writeApp('shop', { web: { wasm: await chattyGuest(), route: '/...' } });
    const node = await startVerge(dir, ['--workers', '1', '--log-format', 'pretty'], { admin: true, env: { VERGE_ADMIN_TOKEN: TOKEN } });
    let tail: LogsProcess | undefined;
    try {
      const { requestId } = await get(`${node.url}/hello`);
      await waitFor('the pretty request line', () => node.stdout().includes(`req=${requestId}`) && /shop\/web request GET \/hello 200/.test(node.stdout()));
      const lines = node.stdout().trim().split('\n');
      assert.deepEqual(lines.filter((l) => l.startsWith('{')), [], 'no JSON line');
      assert.ok(lines.some((l) => l.includes(`guest stderr: ${GUEST_LINE} version=`) && l.endsWith(`req=${requestId}`)));
      tail = follow(node);
      await waitFor('verge logs to follow', () => /Following the log of/.test(tail!.stderr()));
      await node.stop();
      assert.equal(await exitWithin(tail), 2);
      assert.match(tail.stderr(), /closed the log stream/);
    } finally {
      await tail?.stop();
      await node.stop();
    }
  });
});
