import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FD_WRITE, POLL_ONEOFF, SLEEP, VERGE, at, respondWith, wat } from '../../test/support/wat.js';
import { guestRequest } from '../../test/support/guest-request.js';
import { sandboxModule } from '../wasm/binary.js';
import { Worker } from 'node:worker_threads';
import type { GuestRequest, HostCall, HostReply, ModuleSpec, ToWorker } from './protocol.js';
import { TAKE_BACK_MS, WorkerPool, type Outcome, type PoolOptions } from './pool.js';
import { osThreadPriority, type ThreadPriority } from './thread-priority.js';
import { demotedThreads } from '../../test/support/threads.js';
import { HOST_CALLS_PER_BATCH } from '../sandbox/measures.js';

const OK = 'content-type: text/plain\n\nok';
const CHATTY_CALLS = HOST_CALLS_PER_BATCH * 2 + 100;

/** Real worker threads running tiny WAT guests; host calls are answered (and counted) here. */
async function modules(): Promise<ModuleSpec[]> {
  const [store, storeLen] = at(2048, 'default');
  const [key, keyLen] = at(2100, 'n');
  const [variable] = at(2200, 'v');
  const guests: Record<string, string> = {
    // Reads a variable CHATTY_CALLS times: more host calls than one answer carries.
    chatty: `(module ${FD_WRITE} ${VERGE} (memory 1) ${respondWith(OK)} ${variable}
      (func (export "_start") (local $i i32)
        (block $out (loop $l
          (br_if $out (i32.ge_u (local.get $i) (i32.const ${CHATTY_CALLS})))
          (drop (call $variable_get (i32.const 2200) (i32.const 1) (i32.const 3000) (i32.const 16)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))
        (call $respond)))`,
    ok: `(module ${FD_WRITE} (memory 1) ${respondWith(OK)} (func (export "_start") (call $respond)))`,
    loop: `(module (memory 1) (func (export "_start") (loop $l (br $l))))`,
    // Sleeps 300 ms, then answers.
    slow: `(module ${FD_WRITE} ${POLL_ONEOFF} (memory 1) ${respondWith(OK)} ${SLEEP} (func (export "_start") (call $sleep_ms (i32.const 300)) (call $respond)))`,
    // Increments a counter (a host call the test sees), runs about TAKE_BACK_MS, then answers.
    count: `(module ${FD_WRITE} ${POLL_ONEOFF} ${VERGE} (memory 1) ${respondWith(OK)} ${SLEEP} ${store} ${key}
      (func (export "_start")
        (drop (call $kv_increment (call $kv_open (i32.const 2048) (i32.const ${storeLen})) (i32.const 2100) (i32.const ${keyLen}) (i64.const 1) (i32.const 3000)))
        (call $sleep_ms (i32.const ${TAKE_BACK_MS}))
        (call $respond)))`,
    // One chained call to `ok`, `loop` (its deadline is its caller's) or `quick` (a loop with a short timeout of its own), then answers.
    ...Object.fromEntries(['ok', 'loop', 'quick'].map((callee) => [`chain-${callee}`, chainGuest(`http://${callee}.verge.internal/`)])),
    quick: `(module (memory 1) (func (export "_start") (loop $l (br $l))))`,
    // Spins on the monotonic clock for 600 ms (no host call, no sleep), then answers.
    spin: `(module ${FD_WRITE} (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
      (memory 1) ${respondWith(OK)}
      (func $now (result i64) (drop (call $clock (i32.const 1) (i64.const 0) (i32.const 4000))) (i64.load (i32.const 4000)))
      (func (export "_start") (local $until i64)
        (local.set $until (i64.add (call $now) (i64.const 600000000)))
        (loop $l (br_if $l (i64.lt_u (call $now) (local.get $until))))
        (call $respond)))`,
  };
  const specs: ModuleSpec[] = [];
  for (const [component, source] of Object.entries(guests)) {
    const sandboxed = sandboxModule(await wat(source), 16);
    specs.push({
      kind: 'wagi',
      component,
      module: new WebAssembly.Module(sandboxed.bytes),
      memory: sandboxed.memory,
      maxResponseBytes: 1024,
      grants: {
        kvStores: component === 'count' ? [{ name: 'default', backend: 'memory', address: undefined }] : [],
        variables: component === 'chatty' ? [{ name: 'v', value: 'x', secret: false }] : [],
        outbound: component.startsWith('chain') ? { maxRequestBodyBytes: 1024, maxResponseBytes: 1024, chains: '*' } : false,
      },
      callee: { routes: [], timeoutMs: component === 'quick' ? 200 : 30_000, maxRequestBytes: 1024 },
    });
  }
  return specs;
}

/** Makes one outbound call to `url` and answers ok with the status it got in a header block it ignores. */
function chainGuest(url: string): string {
  const [method] = at(2048, 'GET');
  const [target, targetLen] = at(2100, url);
  return `(module ${FD_WRITE} ${VERGE} (memory 1) ${respondWith(OK)} ${method} ${target}
    (func (export "_start")
      (drop (call $http_send (i32.const 2048) (i32.const 3) (i32.const 2100) (i32.const ${targetLen}) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
      (call $respond)))`;
}

let nextId = 0;
function request(component: string): GuestRequest {
  return guestRequest(`r${++nextId}`, component);
}

async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The OS's thread priority, with what the pool asked of it counted; `restore` can be made to refuse, as without CAP_SYS_NICE. */
function countedPriority(refuseRestore = false): ThreadPriority & { demoted: number; restored: number } {
  const os = osThreadPriority();
  const counted = {
    demoted: 0,
    restored: 0,
    cpuMs: (tid: number) => os.cpuMs(tid),
    demote: (tid: number) => (counted.demoted++, os.demote(tid)),
    restore: (tid: number) => (counted.restored++, !refuseRestore && os.restore(tid)),
  };
  return counted;
}

function errorOf(outcome: Outcome): string {
  return outcome.ok ? `ok ${outcome.response.status}` : outcome.error.code;
}

function bodyOf(outcome: Outcome): string {
  assert.ok(outcome.ok, outcome.ok ? '' : `${outcome.error.code}: ${outcome.error.message}`);
  return Buffer.from(outcome.response.body).toString();
}

describe('WorkerPool', () => {
  let specs: ModuleSpec[];
  /** Host calls made, by request id. */
  const calls = new Map<string, number>();
  const replaced: string[] = [];
  const pools: WorkerPool[] = [];

  async function pool(options: Partial<PoolOptions> & Pick<PoolOptions, 'size'>): Promise<WorkerPool> {
    const p = new WorkerPool({
      spares: 1,
      queueLimit: 100,
      hostCall: async (call: HostCall): Promise<HostReply> => {
        calls.set(call.requestId, (calls.get(call.requestId) ?? 0) + 1);
        return { ok: true, value: BigInt(calls.get(call.requestId)!) };
      },
      onWorkerReplaced: (reason) => replaced.push(reason),
      ...options,
    });
    pools.push(p);
    await p.start();
    await p.load('v1', specs);
    return p;
  }

  before(async () => {
    specs = await modules();
  });
  after(async () => {
    await Promise.all(pools.map((p) => p.close(0)));
  });

  test('queues what no worker can take, up to its limit, then answers QUEUE_FULL', async () => {
    // The worker is busy with a guest that sleeps (one that spins would be demoted and a worker lent in its place).
    const p = await pool({ size: 1, queueLimit: 1 });
    const sleeping = p.run(request('slow'), 5000);
    const queued = p.run(request('ok'), 5000);
    // Queued at once, or taken back from behind the sleeper within TAKE_BACK_MS.
    await until(() => p.queued === 1);
    assert.equal(errorOf(await p.run(request('ok'), 5000)), 'QUEUE_FULL');
    assert.equal(bodyOf(await sleeping), 'ok');
    assert.equal(bodyOf(await queued), 'ok');
    assert.equal(p.busy, 0);
  });

  test('hands back what the worker measured of a request, with every host call it made even when they came in several batches', async () => {
    const p = await pool({ size: 1 });
    const admitted = performance.timeOrigin + performance.now();
    const outcome = await p.run(request('chatty'), 10_000);
    assert.equal(bodyOf(outcome), 'ok');
    const m = outcome.measures!;
    assert.ok(m.claimedAt >= admitted - 5, 'claimed after admission, on the same clock');
    assert.equal(m.hostCalls!.length / 2, CHATTY_CALLS);
    // A killed request has no measures, and no batch of it leaks into the next request's.
    assert.equal((await p.run(request('loop'), 200)).measures, undefined);
    assert.equal((await p.run(request('ok'), 5000)).measures!.hostCalls, undefined);
  });

  test('terminates a guest at its deadline and puts a warm spare in its place', async () => {
    const p = await pool({ size: 1 });
    const before = replaced.length;
    const t0 = performance.now();
    const outcome = await p.run(request('loop'), 200);
    const elapsed = performance.now() - t0;
    assert.equal(errorOf(outcome), 'DEADLINE_EXCEEDED');
    assert.match(outcome.ok ? '' : outcome.error.message, /within 200 ms; its worker was terminated/);
    assert.ok(elapsed >= 190 && elapsed < 1000, `answered after ${elapsed} ms`);
    assert.deepEqual(replaced.slice(before), ['deadline']);
    assert.equal(p.workers, 1);
    assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
  });

  test("a request's deadline runs from when its guest starts, not while it waits behind another guest", async () => {
    // One worker: the second slow guest (300 ms) waits ~300 ms for the first. 600 ms in all is
    // past its 500 ms timeout, but neither its wait nor its run is.
    const p = await pool({ size: 1 });
    const first = p.run(request('slow'), 5000);
    const second = await p.run(request('slow'), 500);
    assert.equal(bodyOf(await first), 'ok');
    assert.equal(bodyOf(second), 'ok');
  });

  test('a request that finds no free worker within its timeout answers QUEUE_TIMEOUT and never runs', async () => {
    const p = await pool({ size: 1 });
    const sleeping = p.run(request('slow'), 5000);
    const req = request('count');
    const t0 = performance.now();
    const outcome = await p.run(req, 200);
    const elapsed = performance.now() - t0;
    assert.equal(errorOf(outcome), 'QUEUE_TIMEOUT');
    assert.ok(elapsed >= 190 && elapsed < 800, `answered after ${elapsed} ms`);
    assert.equal(bodyOf(await sleeping), 'ok');
    assert.equal(bodyOf(await p.run(request('count'), 5000)), 'ok');
    assert.equal(calls.get(req.id), undefined, 'the guest of the request that timed out never ran');
  });

  test('takes a request back from behind a looping guest and gives it to the other worker at once', async () => {
    const p = await pool({ size: 2 });
    const looping = p.run(request('loop'), 2000);
    // The first goes to the idle worker; the second behind the loop (the pipeline with room).
    const first = p.run(request('ok'), 1000);
    const t0 = performance.now();
    const second = await p.run(request('ok'), 1000);
    const elapsed = performance.now() - t0;
    assert.equal(bodyOf(await first), 'ok');
    assert.equal(bodyOf(second), 'ok');
    assert.ok(elapsed < 500, `answered after ${elapsed} ms, behind the loop`);
    assert.equal(errorOf(await looping), 'DEADLINE_EXCEEDED');
  });

  test('a request alone in the pool goes to its worker at once; what follows it in the same turn goes in one message', async () => {
    const p = await pool({ size: 1 });
    const sent: number[] = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, msg: ToWorker, transfer?: Parameters<typeof post>[1]) {
      if (msg.t === 'run') sent.push(msg.runs.length);
      return post.call(this, msg, transfer);
    };
    try {
      const first = p.run(request('ok'), 1000);
      assert.deepEqual(sent, [1], 'posted before the turn ends');
      const outcomes = await Promise.all([first, ...[2, 3, 4].map(() => p.run(request('ok'), 1000))]);
      assert.deepEqual(outcomes.map(bodyOf), ['ok', 'ok', 'ok', 'ok']);
    } finally {
      Worker.prototype.postMessage = post;
    }
    // Later messages, if any, carry what was taken back from behind a guest the loaded machine descheduled past TAKE_BACK_MS.
    assert.deepEqual(sent.slice(0, 2), [1, 3], `run messages sent, by the requests each carried: ${sent.join(', ')}`);
  });

  test('runs every request exactly once while requests are taken back as their worker reaches them', async () => {
    // Guests that run about TAKE_BACK_MS: the pool takes requests back just as the worker may be
    // claiming them. Each guest makes one host call, counted by request id.
    const p = await pool({ size: 2 });
    const ids: string[] = [];
    const outcomes: Outcome[] = [];
    const client = async () => {
      for (let i = 0; i < 60; i++) {
        const req = request('count');
        ids.push(req.id);
        outcomes.push(await p.run(req, 5000));
      }
    };
    await Promise.all(Array.from({ length: 6 }, client));
    assert.deepEqual(new Set(outcomes.map(errorOf)), new Set(['ok 200']));
    const runs = ids.map((id) => calls.get(id) ?? 0);
    assert.deepEqual(new Set(runs), new Set([1]), 'a request ran twice, or not at all');
    assert.ok(p.takenBack > 0, 'no request was taken back: the test did not exercise the race');
  });

  describe('elastic (idleWorkers below size)', () => {
    test('starts its idle floor, adds a worker when a request waits, and lets it go once it has idled', async () => {
      const p = await pool({ size: 2, idleWorkers: 1, idleMs: 200 });
      assert.equal(p.workers, 1);
      const looping = p.run(request('loop'), 1500);
      // Waits behind the loop (or is taken back from behind it), so the pool starts its second worker for it.
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
      assert.equal(p.workers, 2);
      assert.equal(errorOf(await looping), 'DEADLINE_EXCEEDED');
      await until(() => p.workers === 1, 5000);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });

    test('requests one at a time never start a second worker', async () => {
      const p = await pool({ size: 2, idleWorkers: 1, idleMs: 60_000 });
      for (let i = 0; i < 20; i++) assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
      assert.equal(p.workers + p.starting, 1);
    });

    test('never runs more workers than its size, however many requests wait', async () => {
      const p = await pool({ size: 2, idleWorkers: 1, idleMs: 60_000 });
      const slow = await Promise.all(Array.from({ length: 8 }, () => p.run(request('slow'), 5000)));
      assert.deepEqual(new Set(slow.map(errorOf)), new Set(['ok 200']));
      assert.equal(p.workers, 2);
    });

    test('a version loaded while a worker is starting for load reaches that worker too', async () => {
      const p = await pool({ size: 2, idleWorkers: 1, idleMs: 60_000 });
      const looping = p.run(request('loop'), 1500);
      // The loop holds the floor worker; the next request makes the pool start another, and v2 is loaded meanwhile.
      const waiting = p.run(request('ok'), 5000);
      await until(() => p.starting === 1);
      const loaded = p.load('v2', specs);
      assert.equal(p.starting, 1, 'the new worker was ready before v2 was loaded: the test missed the window');
      await loaded;
      const v2 = guestRequest(`r${++nextId}`, 'ok', 'v2');
      assert.equal(bodyOf(await waiting), 'ok');
      assert.equal(bodyOf(await p.run(v2, 5000)), 'ok');
      assert.equal(errorOf(await looping), 'DEADLINE_EXCEEDED');
    });
  });

  describe('a guest that spins', () => {
    test('is demoted: its thread gives way, and a request behind it is served by a worker lent in its place long before its deadline', async () => {
      const priority = countedPriority();
      const p = await pool({ size: 1, priority });
      const before = replaced.length;
      let loopEnded = false;
      const looping = p.run(request('loop'), 3000).then((o) => ((loopEnded = true), o));
      const t0 = performance.now();
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
      assert.ok(performance.now() - t0 < 1500 && !loopEnded, `the request waited ${performance.now() - t0} ms, behind the loop`);
      assert.equal(p.demoted, 1);
      assert.equal(p.workers, 2, 'one demoted, one serving');
      assert.equal(demotedThreads(), 1, 'the looping thread has its nice value raised');
      assert.equal(errorOf(await looping), 'DEADLINE_EXCEEDED');
      // The worker lent in its place keeps the pool at its size: none is promoted after the kill.
      assert.deepEqual(replaced.slice(before), ['deadline']);
      assert.equal(p.workers, 1);
      await until(() => demotedThreads() === 0);
      assert.equal(p.demoted, 0);
      assert.equal(priority.demoted, 1);
    });

    test('that ends by itself, with nothing waiting, gets its priority back and keeps its worker', async () => {
      const priority = countedPriority();
      const p = await pool({ size: 1, priority });
      const before = replaced.length;
      const spinning = p.run(request('spin'), 5000);
      await until(() => p.demoted === 1);
      assert.equal(demotedThreads(), 1);
      assert.equal(bodyOf(await spinning), 'ok');
      assert.deepEqual([p.demoted, p.workers, priority.restored, demotedThreads()], [0, 1, 1, 0]);
      assert.equal(replaced.length, before);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });

    test('whose priority the OS will not put back (no CAP_SYS_NICE) has its worker replaced by a fresh one when it ends', async () => {
      const priority = countedPriority(true);
      const p = await pool({ size: 1, priority });
      assert.equal(bodyOf(await p.run(request('spin'), 5000)), 'ok');
      assert.deepEqual([priority.demoted, priority.restored, p.workers, p.demoted], [1, 1, 1, 0]);
      // The demoted thread is gone, not left behind the others.
      await until(() => demotedThreads() === 0);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });

    test('whose place a lent worker took becomes the warm spare when its request ends, its priority back, and no other spare is started', async () => {
      const priority = countedPriority();
      const p = await pool({ size: 1, priority });
      const spinning = p.run(request('spin'), 5000);
      await until(() => p.demoted === 1);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
      assert.equal(p.workers, 2);
      assert.equal(p.spareWorkers, 0, 'a spare was started while the demoted worker could become one');
      assert.equal(bodyOf(await spinning), 'ok');
      assert.deepEqual([p.workers, p.spareWorkers, priority.restored, demotedThreads()], [1, 1, 1, 0]);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });

    test('a guest waiting on a sleep is not demoted: the request behind it waits for it', async () => {
      const priority = countedPriority();
      const p = await pool({ size: 1, priority });
      const sleeping = p.run(request('slow'), 5000);
      const t0 = performance.now();
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
      assert.ok(performance.now() - t0 >= 250, 'the request did not wait for the sleeper');
      assert.equal(bodyOf(await sleeping), 'ok');
      assert.deepEqual([priority.demoted, p.workers], [0, 1]);
    });
  });

  describe('chained calls', () => {
    /** A pool that records each chained call's start and outcome, and the log lines of every request. */
    async function chainPool() {
      const started: string[] = [];
      const ended: Array<{ component: string; outcome: Outcome }> = [];
      const lines: Array<{ id: string; component: string }> = [];
      const p = await pool({
        size: 1,
        onChain: (start) => {
          started.push(`${start.chain.join(' → ')} (${start.parent === start.root ? 'from the inbound request' : 'nested'})`);
          return (outcome) => ended.push({ component: start.request.component, outcome });
        },
        onGuestLog: (id, component) => lines.push({ id, component }),
      });
      return { p, started, ended, lines };
    }

    test("a chained call runs in its caller's worker: no other worker starts, and the pool hears of its start and its answer", async () => {
      const { p, started, ended } = await chainPool();
      assert.equal(bodyOf(await p.run(request('chain-ok'), 5000)), 'ok');
      assert.deepEqual(started, ['chain-ok → ok (from the inbound request)']);
      assert.deepEqual(ended.map((e) => [e.component, errorOf(e.outcome)]), [['ok', 'ok 200']]);
      assert.equal(p.workers, 1);
      assert.equal(p.busy, 0);
    });

    test('a callee past its own shorter timeout_ms is stopped alone: its caller answers and its worker goes on', async () => {
      const { p, ended } = await chainPool();
      const before = replaced.length;
      const t0 = performance.now();
      assert.equal(bodyOf(await p.run(request('chain-quick'), 5000)), 'ok');
      assert.ok(performance.now() - t0 < 3000, 'the caller waited past its callee\'s 200 ms');
      assert.deepEqual(ended.map((e) => [e.component, errorOf(e.outcome)]), [['quick', 'DEADLINE_EXCEEDED']]);
      assert.equal(replaced.length, before);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });

    test("a callee whose deadline is its caller's ends with its caller: the worker is replaced and the callee's outcome says so", async () => {
      const { p, ended } = await chainPool();
      const before = replaced.length;
      const caller = await p.run(request('chain-loop'), 400);
      assert.equal(errorOf(caller), 'DEADLINE_EXCEEDED');
      await until(() => ended.length === 1);
      assert.deepEqual(ended.map((e) => [e.component, errorOf(e.outcome)]), [['loop', 'DEADLINE_EXCEEDED']]);
      assert.match(ended[0]!.outcome.ok ? '' : ended[0]!.outcome.error.message, /caller ended first/);
      assert.deepEqual(replaced.slice(before), ['deadline']);
      assert.equal(bodyOf(await p.run(request('ok'), 5000)), 'ok');
    });
  });
});

