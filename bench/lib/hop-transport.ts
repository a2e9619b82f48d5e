/**
 * The request hop's transport on its own (issue 17's lead "a SharedArrayBuffer ring per worker
 * with Atomics.notify / Atomics.waitAsync and no structured clone"): the main thread sends a
 * worker requests shaped as the pool sends them (a GuestRequest in a RunOrder) and the worker
 * answers each with a 'done' shaped as a WAGI runner's, no guest in between, so what is measured
 * is the hop alone. Three transports, in alternating rounds:
 *
 * - message: postMessage both ways, what the pool and the worker do;
 * - ring: a SharedArrayBuffer ring each way (JSON in fixed slots), each side waiting with
 *   Atomics.waitAsync when its ring is empty and the writer notifying only a reader that waits;
 * - message + futex: postMessage both ways, but the worker sleeps in Atomics.wait (a futex, not
 *   its event loop's epoll) and the main thread notifies it after each post; the worker drains its
 *   port with receiveMessageOnPort.
 *
 * `inflight` requests are kept outstanding (1: one at a time, as at c1; 8: pipelined, as at c50,
 * where the pool posts up to PIPELINE_DEPTH to a worker). Per round trip: wall time, and the
 * process's CPU (both threads).
 *
 *   node dist/bench/lib/hop-transport.js [round trips per round] [rounds]   (default 100000, 3)
 */
import { Worker, isMainThread, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { FromWorker, RunOrder } from '../../src/dispatch/protocol.js';
import { guestRequest } from '../../test/support/guest-request.js';
import { fmtRatio, median, table } from './report.js';

/** Node 20 has it (V8 11); the ES2022 lib this project compiles against does not declare it. */
const waitAsync = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync;

type Transport = 'message' | 'ring' | 'message + futex';
const TRANSPORTS: Transport[] = ['message', 'ring', 'message + futex'];
const INFLIGHT = [1, 8];
const SLOTS = 64;
const SLOT_BYTES = 4096;

/** One direction: header [written, read, reader waits, posts] then SLOTS slots of (length, JSON). */
class Ring {
  readonly head: Int32Array;
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();

  constructor(readonly sab: SharedArrayBuffer) {
    this.head = new Int32Array(sab, 0, 4);
    this.bytes = new Uint8Array(sab, 16);
    this.view = new DataView(sab, 16);
  }

  static create(): Ring {
    return new Ring(new SharedArrayBuffer(16 + SLOTS * SLOT_BYTES));
  }

  put(value: unknown): void {
    const seq = this.head[0]!;
    if (seq - Atomics.load(this.head, 1) >= SLOTS) throw new Error('ring full: keep inflight below its slots');
    const at = (seq % SLOTS) * SLOT_BYTES;
    const { written } = this.encoder.encodeInto(JSON.stringify(value), this.bytes.subarray(at + 4, at + SLOT_BYTES));
    this.view.setUint32(at, written);
    Atomics.store(this.head, 0, seq + 1);
    if (Atomics.load(this.head, 2) === 1) Atomics.notify(this.head, 0);
  }

  take(): unknown {
    const seq = this.head[1]!;
    if (seq === Atomics.load(this.head, 0)) return undefined;
    const at = (seq % SLOTS) * SLOT_BYTES;
    const value: unknown = JSON.parse(this.decoder.decode(this.bytes.subarray(at + 4, at + 4 + this.view.getUint32(at))));
    Atomics.store(this.head, 1, seq + 1);
    return value;
  }

  /** Hands every value to `each` as it comes, forever; waits (without blocking the event loop) while the ring is empty. */
  async serve(each: (value: unknown) => void): Promise<never> {
    for (;;) {
      let value: unknown;
      while ((value = this.take()) !== undefined) each(value);
      Atomics.store(this.head, 2, 1);
      const written = Atomics.load(this.head, 0);
      if (written === this.head[1]) {
        const wait = waitAsync(this.head, 0, written);
        if (wait.async) await wait.value;
      }
      Atomics.store(this.head, 2, 0);
    }
  }
}

interface Setup {
  transport: Transport;
  toWorker: SharedArrayBuffer;
  toMain: SharedArrayBuffer;
}

function answerTo(order: RunOrder): FromWorker {
  return {
    t: 'done',
    id: order.request.id,
    response: { status: 200, headers: ['content-type', 'application/json'], body: new TextEncoder().encode('{"message":"Hello from Wasm!"}') },
    claimedAt: performance.timeOrigin + performance.now(),
    instantiateMs: 0.01,
    prepared: true,
    memoryBytes: 65536,
  };
}

function workerSide(setup: Setup): void {
  const port = parentPort!;
  const toWorker = new Ring(setup.toWorker);
  const toMain = new Ring(setup.toMain);
  // Nothing else holds this thread's event loop open while it waits on a ring.
  setInterval(() => undefined, 1 << 30);
  if (setup.transport === 'message') {
    port.on('message', (order: RunOrder) => port.postMessage(answerTo(order)));
  } else if (setup.transport === 'ring') {
    void toWorker.serve((order) => toMain.put(answerTo(order as RunOrder)));
  } else {
    // Sleeps in a futex between requests, and goes back to its event loop every 1,000 of them.
    const loop = (): void => {
      for (let i = 0; i < 1000; i++) {
        let got: { message: RunOrder } | undefined;
        while ((got = receiveMessageOnPort(port))) port.postMessage(answerTo(got.message));
        const posts = Atomics.load(toWorker.head, 3);
        if ((got = receiveMessageOnPort(port))) {
          port.postMessage(answerTo(got.message));
          continue;
        }
        Atomics.wait(toWorker.head, 3, posts, 50);
      }
      setImmediate(loop);
    };
    loop();
  }
}

/** Round trips with `inflight` outstanding: wall µs and process CPU µs per round trip. */
async function measure(transport: Transport, inflight: number, trips: number): Promise<{ wallUs: number; cpuUs: number }> {
  const setup: Setup = { transport, toWorker: Ring.create().sab, toMain: Ring.create().sab };
  const worker = new Worker(new URL(import.meta.url), { workerData: setup });
  const toWorker = new Ring(setup.toWorker);
  const toMain = new Ring(setup.toMain);
  try {
    let sent = 0;
    let answered = 0;
    let startedAt = 0n;
    let cpuAt = process.cpuUsage();
    const warmup = Math.min(5000, trips / 10);
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const send = (): void => {
      const order: RunOrder = { request: { ...guestRequest(`req-${sent}`, 'hello', 'hello@0123456789abcdef#1'), url: '/api/hello', rawHeaders: ['Host', '127.0.0.1:8080'], route: '/api/hello', scriptName: '/api/hello' }, cell: sent % 4, tag: sent, timeoutMs: 30_000 };
      sent++;
      if (transport === 'ring') toWorker.put(order);
      else {
        worker.postMessage(order);
        if (transport === 'message + futex') {
          Atomics.add(toWorker.head, 3, 1);
          Atomics.notify(toWorker.head, 3);
        }
      }
    };
    const onAnswer = (): void => {
      answered++;
      if (answered === warmup) {
        startedAt = process.hrtime.bigint();
        cpuAt = process.cpuUsage();
      }
      if (answered === warmup + trips) finish();
      // The next request goes out at the end of the turn, as the pool's do.
      else if (sent < warmup + trips) setImmediate(send);
    };
    if (transport === 'ring') void toMain.serve(onAnswer);
    else worker.on('message', onAnswer);
    await new Promise<void>((resolve) => worker.once('online', () => resolve()));
    for (let i = 0; i < inflight; i++) send();
    await finished;
    const wallUs = Number(process.hrtime.bigint() - startedAt) / 1e3 / trips;
    const cpu = process.cpuUsage(cpuAt);
    return { wallUs, cpuUs: (cpu.user + cpu.system) / trips };
  } finally {
    await worker.terminate();
  }
}

async function main(): Promise<void> {
  const trips = Number(process.argv[2] ?? 100_000);
  const rounds = Number(process.argv[3] ?? 3);
  const samples = new Map<string, Array<{ wallUs: number; cpuUs: number }>>();
  for (let round = 0; round < rounds; round++) {
    for (const inflight of INFLIGHT) {
      // Rotate who goes first.
      const order = TRANSPORTS.map((_, i) => TRANSPORTS[(i + round) % TRANSPORTS.length]!);
      for (const t of order) {
        const m = await measure(t, inflight, trips);
        process.stderr.write(`[hop-transport] round ${round + 1} inflight ${inflight} ${t}: ${m.wallUs.toFixed(2)} µs wall, ${m.cpuUs.toFixed(2)} µs CPU per round trip\n`);
        const key = `${inflight}\u0000${t}`;
        samples.set(key, [...(samples.get(key) ?? []), m]);
      }
    }
  }
  const rows: string[][] = [];
  for (const inflight of INFLIGHT) {
    const base = samples.get(`${inflight}\u0000message`)!;
    const baseWall = median(base.map((s) => s.wallUs));
    const baseCpu = median(base.map((s) => s.cpuUs));
    for (const t of TRANSPORTS) {
      const list = samples.get(`${inflight}\u0000${t}`)!;
      const wall = median(list.map((s) => s.wallUs));
      const cpu = median(list.map((s) => s.cpuUs));
      rows.push([String(inflight), t, wall.toFixed(1), list.map((s) => s.wallUs.toFixed(1)).join(', '), cpu.toFixed(1), list.map((s) => s.cpuUs.toFixed(1)).join(', '), fmtRatio(wall / baseWall), fmtRatio(cpu / baseCpu)]);
    }
  }
  process.stdout.write(
    `${table(['inflight', 'transport', 'wall µs / round trip', 'rounds', 'CPU µs / round trip', 'rounds', 'wall ÷ message', 'CPU ÷ message'], rows, ['r', 'l', 'r', 'l', 'r', 'l', 'r', 'r'])}\n`,
  );
}

if (isMainThread) await main();
else workerSide(workerData as Setup);
