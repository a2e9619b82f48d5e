import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import wabtInit from 'wabt';
import { sandboxModule } from '../wasm/binary.js';
import { exposeStateForReset } from '../wasm/state-exports.js';
import type { FromWorker, GuestRequest, ModuleSpec, ToWorker } from '../dispatch/protocol.js';
import { createBridgeEnds } from '../dispatch/host-bridge.js';
import { JobClaims } from '../dispatch/job-claims.js';
import { guestRequest } from '../../test/support/guest-request.js';

/**
 * A guest that answers with one digit: '0' plus the byte it finds at address 4096, then leaves a 1
 * there. Address 4096 is not covered by a data segment, so a fresh instance must find 0 there.
 */
const LEAKY_GUEST = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "Content-Type: text/plain\\0a\\0a")
  (func (export "_start")
    (i32.store8 (i32.const 1050) (i32.add (i32.const 48) (i32.load8_u (i32.const 4096))))
    (i32.store8 (i32.const 4096) (i32.const 1))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 27))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

/**
 * A guest whose every piece of state a put-back instance must have as a fresh one has it. It
 * answers four digits — the byte at 4096 (no data segment covers it), a byte its data segment
 * sets ('D'), a mutable global it does not export, and what slot 0 of its table calls — and then
 * changes all four. A fresh instance answers "0D01" every time.
 */
const STATEFUL_GUEST = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (type $digit (func (result i32)))
  (table 2 funcref)
  (elem (i32.const 0) $one $two)
  (func $one (result i32) (i32.const 49))
  (func $two (result i32) (i32.const 50))
  (data (i32.const 1024) "Content-Type: text/plain\\0a\\0a")
  (data (i32.const 1060) "D")
  (func (export "_start")
    (i32.store8 (i32.const 1050) (i32.add (i32.const 48) (i32.load8_u (i32.const 4096))))
    (i32.store8 (i32.const 1051) (i32.load8_u (i32.const 1060)))
    (i32.store8 (i32.const 1052) (i32.add (i32.const 48) (global.get $count)))
    (i32.store8 (i32.const 1053) (call_indirect (type $digit) (i32.const 0)))
    (i32.store8 (i32.const 4096) (i32.const 1))
    (i32.store8 (i32.const 1060) (i32.const 88))
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (table.set (i32.const 0) (ref.func $two))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 30))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`;

const wabt = await wabtInit();

/** A WAGI module spec for `source`, its memory supplied by the sandbox, its state exported when `reset`. */
function wagiSpec(component: string, source: string, reset: boolean): ModuleSpec {
  const parsed = wabt.parseWat(`${component}.wat`, source, { reference_types: true, bulk_memory: true } as Parameters<typeof wabt.parseWat>[2]);
  const bytes = new Uint8Array(parsed.toBinary({}).buffer);
  parsed.destroy();
  const sandboxed = sandboxModule(bytes, 16);
  const exposed = reset ? exposeStateForReset(sandboxed.bytes) : sandboxed;
  assert.ok(!('refused' in exposed), 'refused' in exposed ? exposed.refused : '');
  return {
    kind: 'wagi',
    component,
    module: new WebAssembly.Module(exposed.bytes),
    memory: sandboxed.memory,
    maxResponseBytes: 1024,
    grants: { kvStores: [], variables: [], outbound: false },
  };
}

/** A real worker thread with `spec` loaded, and what the tests ask of it. */
async function openWorker(spec: ModuleSpec) {
  const worker = new Worker(new URL('./worker.js', import.meta.url));
  const claims = new JobClaims();
  function next(pred: (m: FromWorker) => boolean): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (!pred(m)) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(m);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  }
  const ready = next((m) => m.t === 'ready');
  const ends = createBridgeEnds();
  worker.postMessage({ t: 'init', bridge: { port: ends.workerPort, signal: ends.signal }, claims: claims.buffer } satisfies ToWorker, [ends.workerPort]);
  await ready;
  const loaded = next((m) => m.t === 'loaded');
  worker.postMessage({ t: 'load', version: 'v1', modules: [spec] } satisfies ToWorker);
  await loaded;
  return {
    worker,
    claims,
    next,
    request: (id: string): GuestRequest => guestRequest(id, spec.component),
    async run(id: string): Promise<FromWorker> {
      const answer = next((m) => (m.t === 'done' || m.t === 'fail') && m.id === id);
      const claim = claims.offer(() => false);
      worker.postMessage({ t: 'run', runs: [{ request: guestRequest(id, spec.component), ...claim, timeoutMs: 5000 }] } satisfies ToWorker);
      return answer;
    },
    async close(): Promise<void> {
      ends.mainPort.close();
      await worker.terminate();
    },
  };
}

describe('guest worker', () => {
  let opened: Awaited<ReturnType<typeof openWorker>>;
  let worker: Worker;
  let claims: JobClaims;
  let next: (pred: (m: FromWorker) => boolean) => Promise<FromWorker>;
  let run: (id: string) => Promise<FromWorker>;
  let request: (id: string) => GuestRequest;

  before(async () => {
    opened = await openWorker(wagiSpec('leaky', LEAKY_GUEST, false));
    ({ worker, claims, next, request } = opened);
    run = (id) => opened.run(id);
  });

  after(() => opened.close());

  test('skips a request the pool took back before the worker reached it, answering nothing', async () => {
    const takenBack = claims.offer(() => false);
    assert.ok(claims.revoke(takenBack));
    const seen: string[] = [];
    const record = (m: FromWorker) => void ('id' in m && seen.push(m.id));
    worker.on('message', record);
    worker.postMessage({ t: 'run', runs: [{ request: request('taken-back'), ...takenBack, timeoutMs: 5000 }] } satisfies ToWorker);
    const answer = await run('after');
    worker.off('message', record);
    assert.equal(answer.t, 'done');
    assert.deepEqual(seen, ['after'], 'the worker ran or answered the request that was taken back');
  });

  test('runs the requests of one message in order, each in a zeroed memory, skipping one taken back among them', async () => {
    const ids = ['batch-a', 'batch-b', 'batch-c', 'batch-d'];
    const orders = ids.map((id) => ({ request: request(id), ...claims.offer(() => false), timeoutMs: 5000 }));
    assert.ok(claims.revoke(orders[1]!));
    const answers: Array<Extract<FromWorker, { t: 'done' | 'fail' }>> = [];
    const record = (m: FromWorker) => void ((m.t === 'done' || m.t === 'fail') && m.id.startsWith('batch-') && answers.push(m));
    worker.on('message', record);
    const last = next((m) => (m.t === 'done' || m.t === 'fail') && m.id === 'batch-d');
    worker.postMessage({ t: 'run', runs: orders } satisfies ToWorker);
    await last;
    worker.off('message', record);
    assert.deepEqual(
      answers.map((m) => (m.t === 'done' ? `${m.id}:${Buffer.from(m.response.body).toString()}` : `${m.id}:${m.t}`)),
      ['batch-a:0', 'batch-c:0', 'batch-d:0'],
    );
  });

  test('answers every request with what it measured: when it claimed it, the instantiation and the guest memory at the end', async () => {
    const before = performance.timeOrigin + performance.now();
    const answer = await run('measured');
    assert.equal(answer.t, 'done', JSON.stringify(answer));
    const m = answer.t === 'done' && answer.claimedAt !== undefined ? answer : assert.fail('no measures');
    assert.ok(m.claimedAt >= before - 5 && m.claimedAt <= performance.timeOrigin + performance.now() + 5, `claimedAt ${m.claimedAt} is on this clock`);
    assert.ok(m.instantiateMs >= 0 && m.instantiateMs < 1000, `instantiateMs ${m.instantiateMs}`);
    assert.equal(m.prepared, false);
    assert.equal(m.memoryBytes, 65536, 'one page, as the guest declares');
    assert.equal(m.hostCalls, undefined, 'it made no host call');
  });

  test('gives every request a linear memory that starts from zeros, even when it is recycled', async () => {
    const bodies: string[] = [];
    for (const id of ['r1', 'r2', 'r3']) {
      const answer = await run(id);
      assert.equal(answer.t, 'done', JSON.stringify(answer));
      if (answer.t === 'done') bodies.push(Buffer.from(answer.response.body).toString());
    }
    assert.deepEqual(bodies, ['0', '0', '0'], 'a later request saw what an earlier one left in memory');
  });
});

describe('guest worker, a module whose state is exported', () => {
  let opened: Awaited<ReturnType<typeof openWorker>>;
  let trapping: Awaited<ReturnType<typeof openWorker>>;
  before(async () => {
    opened = await openWorker(wagiSpec('stateful', STATEFUL_GUEST, true));
    trapping = await openWorker(wagiSpec('trapping', '(module (memory 1) (global $g (mut i32) (i32.const 0)) (func (export "_start") (global.set $g (i32.const 1)) unreachable))', true));
  });
  after(async () => {
    await opened.close();
    await trapping.close();
  });

  test('gives up the instance of a request that failed: the next one is instantiated again', async () => {
    for (const id of ['t1', 't2', 't3']) {
      const answer = await trapping.run(id);
      assert.equal(answer.t, 'fail', JSON.stringify(answer));
      assert.equal('prepared' in answer && answer.prepared, false, `${id} ran in an instance a failed request had used`);
    }
  });

  test('puts the instance back after each request: memory, data segments, globals and tables are as a fresh instance has them', async () => {
    const seen: Array<{ body: string; prepared: boolean }> = [];
    for (const id of ['s1', 's2', 's3', 's4']) {
      const answer = await opened.run(id);
      assert.equal(answer.t, 'done', JSON.stringify(answer));
      if (answer.t === 'done') seen.push({ body: Buffer.from(answer.response.body).toString(), prepared: 'prepared' in answer && answer.prepared === true });
    }
    assert.deepEqual(
      seen.map((s) => s.body),
      ['0D01', '0D01', '0D01', '0D01'],
      'a later request saw memory, a global or a table entry an earlier one changed',
    );
    // The first request instantiated; every later one ran in the instance put back after it.
    assert.deepEqual(
      seen.map((s) => s.prepared),
      [false, true, true, true],
    );
  });
});
