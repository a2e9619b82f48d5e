/**
 * What one postMessage of a request costs the posting thread (issue 17, the request hop): to a
 * worker asleep in its event loop, to a worker busy running JavaScript, and to a port on the same
 * thread (copying alone). The message is shaped as the pool's: a hello GuestRequest.
 *
 *   node dist/bench/lib/post-cost.js        (POST_COST_MESSAGES: 2000 per case)
 *
 * Prints one line per case: the median and 90th percentile of the time spent inside postMessage.
 */
import { MessageChannel, Worker, isMainThread, parentPort } from 'node:worker_threads';
import { intEnv } from './proc.js';
import { guestRequest } from '../../test/support/guest-request.js';
import type { ToWorker } from '../../src/dispatch/protocol.js';

const MESSAGES = intEnv('POST_COST_MESSAGES', 2000);
const BUSY_SLICE_MS = 9;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function percentiles(times: number[]): string {
  times.sort((a, b) => a - b);
  const at = (q: number) => (times[Math.floor(times.length * q)]! * 1000).toFixed(1);
  return `p50 ${at(0.5)} µs, p90 ${at(0.9)} µs`;
}

async function main(): Promise<void> {
  const msg: ToWorker = { t: 'run', runs: [{ request: guestRequest('f3c1a2b4-1234-4abc-9def-0123456789ab', 'hello'), cell: 1, tag: 2, timeoutMs: 1000 }] };
  const worker = new Worker(new URL(import.meta.url));
  await new Promise((resolve) => worker.once('message', resolve));
  for (const busy of [false, true]) {
    worker.postMessage({ busy });
    await sleep(20);
    const times: number[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      const t = performance.now();
      worker.postMessage(msg);
      times.push(performance.now() - t);
      // Asleep: give it time to go back to its event loop's wait. Busy: it runs JS in slices, never waiting.
      if (!busy) await sleep(1);
      else if (i % 50 === 0) await sleep(0);
    }
    process.stdout.write(`to a worker ${busy ? 'busy running JS' : 'asleep'}: ${percentiles(times)}\n`);
  }
  const { port1, port2 } = new MessageChannel();
  const times: number[] = [];
  for (let i = 0; i < MESSAGES; i++) {
    const t = performance.now();
    port1.postMessage(msg);
    times.push(performance.now() - t);
  }
  process.stdout.write(`to a port of this thread (the copy alone): ${percentiles(times)}\n`);
  port1.close();
  port2.close();
  await worker.terminate();
}

if (isMainThread) {
  main().catch((err) => {
    process.stderr.write(`post-cost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
} else {
  parentPort!.postMessage('ready');
  parentPort!.on('message', (m: { busy?: boolean }) => {
    if (m.busy === true) {
      setInterval(() => {
        const end = performance.now() + BUSY_SLICE_MS;
        while (performance.now() < end);
      }, BUSY_SLICE_MS + 1);
    }
  });
}
