/**
 * Hostile guests against the real CLI: each misbehaves in its own way, gets its own request failed
 * with a stated reason, and every other request goes on.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { FD_WRITE, respondWith, wat } from '../support/wat.js';
import { writeApp } from '../support/app.js';
import { rssBytes, startVerge, type VergeProcess } from '../support/verge-process.js';
import { demotedThreads } from '../support/threads.js';

const OK = 'content-type: text/plain\n\nok';
const TIMEOUT_MS = 1000;
const LONG_LOOP_MS = 3000;

async function guests() {
  return {
    ok: { route: '/ok', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith(OK)} (func (export "_start") (call $respond)))`) },
    loop: {
      route: '/loop',
      limits: `timeout_ms = ${TIMEOUT_MS}`,
      wasm: await wat(`(module (memory 1) (func (export "_start") (loop $l (br $l))))`),
    },
    // The neighbour scenario: a guest looping for 3 s beside a route with a 1 s timeout.
    'long-loop': {
      route: '/long-loop',
      limits: `timeout_ms = ${LONG_LOOP_MS}`,
      wasm: await wat(`(module (memory 1) (func (export "_start") (loop $l (br $l))))`),
    },
    neighbour: {
      route: '/neighbour',
      limits: `timeout_ms = ${TIMEOUT_MS}`,
      wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith(OK)} (func (export "_start") (call $respond)))`),
    },
    'start-loop': {
      route: '/start-loop',
      limits: `timeout_ms = ${TIMEOUT_MS}`,
      wasm: await wat(`(module (memory 1) (func $s (loop $l (br $l))) (start $s) (func (export "_start")))`),
    },
    // Grows one page at a time, touching each new page, until memory.grow fails; then aborts.
    'grow-bomb': {
      route: '/grow-bomb',
      limits: 'memory_mib = 64',
      wasm: await wat(`(module (memory 1)
        (func (export "_start") (local $p i32)
          (loop $l
            (local.set $p (memory.grow (i32.const 1)))
            (if (i32.eq (local.get $p) (i32.const -1)) (then unreachable))
            (i32.store (i32.mul (local.get $p) (i32.const 65536)) (i32.const 1))
            (br $l))))`),
    },
    recurse: { route: '/recurse', wasm: await wat(`(module (memory 1) (func $r (call $r)) (func (export "_start") (call $r)))`) },
    // Writes the same 64 KiB chunk 1600 times: 100 MiB after the header block.
    flood: {
      route: '/flood',
      wasm: await wat(`(module ${FD_WRITE} (memory 2) ${respondWith('content-type: text/plain\n\n')}
        (func (export "_start") (local $i i32)
          (call $respond)
          (i32.store (i32.const 16) (i32.const 65536))
          (i32.store (i32.const 20) (i32.const 65536))
          (loop $l
            (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 1600))))))`),
    },
    'bad-pointer': {
      route: '/bad-pointer',
      wasm: await wat(`(module ${FD_WRITE} (memory 1)
        (func (export "_start") (drop (call $fd_write (i32.const 1) (i32.const 0xfffffff0) (i32.const 1) (i32.const 8)))))`),
    },
    'bad-iovec': {
      route: '/bad-iovec',
      wasm: await wat(`(module ${FD_WRITE} (memory 1)
        (func (export "_start")
          (i32.store (i32.const 0) (i32.const 65000))
          (i32.store (i32.const 4) (i32.const 10000))
          (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`),
    },
    // Checks every byte of its memory outside its own data segment is zero, grows one page and
    // checks that too, then dirties everything, so a leak into the next request would show.
    snoop: {
      route: '/snoop',
      wasm: await wat(`(module ${FD_WRITE} (memory 3)
        (data (i32.const 1024) "content-type: text/plain\\n\\nclean")
        (data (i32.const 1100) "content-type: text/plain\\n\\ndirty")
        (func $dirty_from (param $from i32) (result i32) (local $p i32)
          (local.set $p (local.get $from))
          (block $done (loop $l
            (br_if $done (i32.ge_u (local.get $p) (i32.mul (memory.size) (i32.const 65536))))
            (if (i32.load8_u (local.get $p)) (then (return (i32.const 1))))
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $l)))
          (i32.const 0))
        (func (export "_start") (local $bad i32)
          (local.set $bad (i32.or (call $dirty_from (i32.const 2048)) (i32.load (i32.const 0))))
          (drop (memory.grow (i32.const 1)))
          (local.set $bad (i32.or (local.get $bad) (call $dirty_from (i32.const 2048))))
          (memory.fill (i32.const 2048) (i32.const 0xAA) (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 2048)))
          (i32.store (i32.const 16) (select (i32.const 1100) (i32.const 1024) (local.get $bad)))
          (i32.store (i32.const 20) (i32.const 31))
          (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 8)))
          (i32.store (i32.const 0) (i32.const 0xdeadbeef))))`),
    },
    garbage: {
      route: '/garbage',
      wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('this is not a CGI response')} (func (export "_start") (call $respond)))`),
    },
    exit3: {
      route: '/exit3',
      wasm: await wat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory 1) (func (export "_start") (call $exit (i32.const 3))))`),
    },
  };
}

async function get(url: string): Promise<{ status: number; body: string; json: () => Record<string, unknown>; headers: Headers }> {
  const res = await fetch(url);
  const body = await res.text();
  return { status: res.status, body, headers: res.headers, json: () => JSON.parse(body) as Record<string, unknown> };
}

async function waitFor(condition: () => Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function metric(node: VergeProcess, name: string): Promise<number> {
  const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  return total;
}

describe('hostile guests', () => {
  let node: VergeProcess;
  before(async () => {
    node = await startVerge(writeApp('hostile', await guests()), ['--workers', '2'], { admin: true });
  });
  after(async () => {
    assert.equal(await node.stop(), 0, 'verge exits 0 on SIGTERM');
  });

  test('a well-behaved guest answers 200 with a request id', async () => {
    const r = await get(`${node.url}/ok`);
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.match(r.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('an infinite loop in the handler answers 504 within the timeout and the next request succeeds', async () => {
    const restartsBefore = await metric(node, 'verge_worker_restarts_total');
    const t0 = Date.now();
    const r = await get(`${node.url}/loop`);
    const elapsed = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.equal(r.json().error, 'DEADLINE_EXCEEDED');
    assert.ok(elapsed >= TIMEOUT_MS - 50 && elapsed < TIMEOUT_MS + 250, `answered after ${elapsed} ms`);
    assert.equal((await get(`${node.url}/ok`)).status, 200);
    assert.equal(await metric(node, 'verge_worker_restarts_total'), restartsBefore + 1);
  });

  test('an infinite loop in the start function answers 504 within the timeout and the next request succeeds', async () => {
    const t0 = Date.now();
    const r = await get(`${node.url}/start-loop`);
    const elapsed = Date.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(elapsed < TIMEOUT_MS + 250, `answered after ${elapsed} ms`);
    assert.equal((await get(`${node.url}/ok`)).status, 200);
  });

  test('50 concurrent requests all succeed while a guest loops', async () => {
    const looping = get(`${node.url}/loop`);
    const oks = await Promise.all(Array.from({ length: 50 }, () => get(`${node.url}/ok`)));
    assert.deepEqual(
      oks.map((r) => r.status),
      Array(50).fill(200),
    );
    assert.equal((await looping).status, 504);
  });

  test('neighbours of a looping guest lose nothing and never wait out the loop (p99 over 5 rounds of 50)', async () => {
    // A burst of 50 neighbours; latencies in ms.
    const burst = async (into: number[], failures: string[]) =>
      Promise.all(
        Array.from({ length: 50 }, async () => {
          const t0 = performance.now();
          const r = await get(`${node.url}/neighbour`);
          into.push(performance.now() - t0);
          if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        }),
      );
    const p99 = (ms: number[]) => ms.sort((a, b) => a - b)[Math.ceil(ms.length * 0.99) - 1]!;
    // Opens the client's connections first: the rounds measure the node, not TCP handshakes.
    await burst([], []);
    const alone: number[] = [];
    const beside: number[] = [];
    const failures: string[] = [];
    for (let round = 0; round < 5; round++) {
      await burst(alone, failures);
      const inFlightBefore = await metric(node, 'verge_requests_in_flight');
      const looping = get(`${node.url}/long-loop`);
      await waitFor(async () => (await metric(node, 'verge_requests_in_flight')) > inFlightBefore);
      await burst(beside, failures);
      assert.equal((await looping).status, 504);
    }
    assert.deepEqual(failures, []);
    // The loop holds one of two cores until it is demoted (~100 ms in), then a tenth of one: how
    // much slower that makes its neighbours depends on the machine's load (CI saw 269 ms beside
    // against 81 ms alone before demotion), which is a benchmark's business (the soak). What this
    // asserts is that no neighbour waited out the loop (3 s): the old pool made one per round wait
    // about 1 s for its deadline.
    const bound = Math.max(500, 3 * p99(alone));
    assert.ok(p99(beside) < bound, `neighbour p99 ${p99(beside).toFixed(1)} ms beside the loop, ${p99(alone).toFixed(1)} ms without it (bound ${bound.toFixed(0)} ms)`);
  });

  test('a guest that keeps computing is demoted: its thread gives way, and the node counts and logs it', async () => {
    const before = await metric(node, 'verge_guest_demotions_total');
    const looping = get(`${node.url}/long-loop`);
    await waitFor(async () => (await metric(node, 'verge_guest_demotions_total')) > before);
    assert.equal(demotedThreads(node.pid), 1, "the looping worker's thread has its nice value raised");
    assert.match(await (await fetch(`${node.adminUrl}/metrics`)).text(), /verge_guest_demotions_total\{component="long-loop"\} [1-9]/);
    // Neighbours are served meanwhile, by the other worker or one lent in its place.
    for (let i = 0; i < 5; i++) assert.equal((await get(`${node.url}/ok`)).status, 200);
    assert.equal((await looping).status, 504);
    assert.ok(
      node.logs().some((l) => l.component === 'long-loop' && String(l.msg).startsWith('guest spins')),
      'the demotion is logged with its component',
    );
    await waitFor(async () => demotedThreads(node.pid) === 0);
  });

  test('a memory.grow bomb fails its own request with 500 and the node RSS stays bounded', async () => {
    for (let round = 0; round < 6; round++) {
      const results = await Promise.all([get(`${node.url}/grow-bomb`), get(`${node.url}/grow-bomb`)]);
      for (const r of results) {
        assert.equal(r.status, 500);
        assert.equal(r.json().error, 'GUEST_TRAP');
      }
    }
    // Six rounds touched 12 × 64 MiB; memories that grew past the recycle threshold are dropped.
    const rss = await rssBytes(node.pid);
    assert.ok(rss < 600 * 1024 * 1024, `RSS is ${Math.round(rss / 1048576)} MiB`);
    assert.equal((await get(`${node.url}/ok`)).status, 200);
  });

  test('unbounded recursion answers 500 GUEST_TRAP and the worker keeps serving', async () => {
    const restartsBefore = await metric(node, 'verge_worker_restarts_total');
    const r = await get(`${node.url}/recurse`);
    assert.equal(r.status, 500);
    assert.equal(r.json().error, 'GUEST_TRAP');
    assert.match(String(r.json().message), /stack/);
    assert.equal((await get(`${node.url}/ok`)).status, 200);
    assert.equal(await metric(node, 'verge_worker_restarts_total'), restartsBefore, 'a trap does not restart the worker');
  });

  test('a guest writing 100 MiB to stdout is capped and answers 502 RESPONSE_TOO_LARGE', async () => {
    const r = await get(`${node.url}/flood`);
    assert.equal(r.status, 502);
    assert.equal(r.json().error, 'RESPONSE_TOO_LARGE');
  });

  test('an out-of-range pointer passed to fd_write fails only that request', async () => {
    for (const route of ['bad-pointer', 'bad-iovec']) {
      const r = await get(`${node.url}/${route}`);
      assert.equal(r.status, 500, route);
      assert.equal(r.json().error, 'GUEST_MEMORY_FAULT');
      assert.match(String(r.json().message), /fd_write/);
    }
    assert.equal((await get(`${node.url}/ok`)).status, 200);
  });

  test('a guest reading memory it never wrote sees zeros, request after request', async () => {
    // Enough sequential and concurrent requests that every worker reuses a memory it recycled.
    for (let i = 0; i < 10; i++) assert.equal((await get(`${node.url}/snoop`)).body, 'clean', `request ${i}`);
    const burst = await Promise.all(Array.from({ length: 20 }, () => get(`${node.url}/snoop`)));
    assert.deepEqual(new Set(burst.map((r) => r.body)), new Set(['clean']));
  });

  test('malformed CGI output answers 502 GUEST_BAD_RESPONSE and the reason is logged', async () => {
    const r = await get(`${node.url}/garbage`);
    assert.equal(r.status, 502);
    assert.equal(r.json().error, 'GUEST_BAD_RESPONSE');
    const id = r.json().request_id;
    await new Promise((res) => setTimeout(res, 100));
    const line = node.logs().find((l) => l.request_id === id && l.error === 'GUEST_BAD_RESPONSE');
    assert.ok(line, 'the access log names the failure');
    assert.match(String(line.reason), /blank line/);
  });

  test('a non-zero proc_exit answers 500 GUEST_EXIT naming the code', async () => {
    const r = await get(`${node.url}/exit3`);
    assert.equal(r.status, 500);
    assert.equal(r.json().error, 'GUEST_EXIT');
    assert.match(String(r.json().message), /code 3/);
  });

  test('an 11 MiB body is refused with 413 before the guest runs, declared or chunked', async () => {
    const size = 11 * 1024 * 1024;
    for (const chunked of [false, true]) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${node.url}/ok`, { method: 'POST', headers: chunked ? {} : { 'content-length': size } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        const chunk = Buffer.alloc(1024 * 1024, 0x61);
        let sent = 0;
        const pump = () => {
          while (sent < 11) {
            sent++;
            if (!req.write(chunk)) return void req.once('drain', pump);
          }
          req.end();
        };
        pump();
      });
      assert.equal(status, 413, chunked ? 'chunked' : 'declared');
    }
    assert.equal((await get(`${node.url}/ok`)).status, 200);
  });

  test('an unknown path answers 404 JSON', async () => {
    const r = await get(`${node.url}/nope`);
    assert.equal(r.status, 404);
    assert.equal(r.json().error, 'NOT_FOUND');
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.json().request_id, r.headers.get('x-request-id'));
  });

  test('the admin listener serves Prometheus metrics for requests, kills and traps', async () => {
    const text = await (await fetch(`${node.adminUrl}/metrics`)).text();
    assert.match(text, /verge_requests_total\{app="hostile",route="\/ok",component="ok",version="[0-9a-f]{12}",status_class="2xx"\} \d+/);
    assert.match(text, /verge_deadline_kills_total\{component="loop"\} [1-9]/);
    assert.match(text, /verge_guest_failures_total\{component="recurse",code="GUEST_TRAP"\} [1-9]/);
    assert.match(text, /verge_request_duration_seconds_bucket/);
  });
});
