/**
 * Runs in a worker thread for sqlite.test.ts: opens its own connection to the file (as each of
 * Verge's worker threads does), waits for the go signal so all workers contend at once, then
 * increments one key and reports every result it saw.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { StoreError } from '../store.js';
import { openSqliteStore } from './sqlite-store.js';

export interface WorkerFixtureData {
  file: string;
  key: string;
  count: number;
  busyTimeoutMs: number;
}

export type WorkerFixtureReport =
  | { t: 'ready' }
  | { t: 'done'; results: bigint[]; slowestMs: number }
  | { t: 'failed'; reason: string; message: string };

const data = workerData as WorkerFixtureData;
const port = parentPort!;
const post = (report: WorkerFixtureReport): void => port.postMessage(report);

try {
  const store = openSqliteStore(data.file, { busyTimeoutMs: data.busyTimeoutMs });
  port.once('message', () => {
    try {
      const results: bigint[] = [];
      let slowestMs = 0;
      for (let i = 0; i < data.count; i++) {
        const start = performance.now();
        results.push(store.increment(data.key, 1n));
        slowestMs = Math.max(slowestMs, performance.now() - start);
      }
      store.close();
      post({ t: 'done', results, slowestMs });
    } catch (err) {
      report(err);
    }
  });
  post({ t: 'ready' });
} catch (err) {
  report(err);
}

function report(err: unknown): void {
  post({ t: 'failed', reason: err instanceof StoreError ? err.reason : 'OTHER', message: String(err) });
}
