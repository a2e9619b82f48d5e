/**
 * Runs in a worker thread for host-bridge.test.ts: makes the host calls it is told to, one after
 * another (as a guest does), and reports what each returned or threw.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { HostBridge } from './host-bridge.js';
import { HostCallError } from '../capabilities/abi.js';

export interface BridgeFixtureData {
  port: MessagePort;
  signal: SharedArrayBuffer;
  /** Per call: the deadline, in ms from when the call is made (absent: none). */
  calls: Array<{ deadlineInMs?: number }>;
}

export type BridgeFixtureResult = { value: unknown } | { status: string; message: string };

const data = workerData as BridgeFixtureData;
const bridge = new HostBridge(data.port, data.signal);
const results: BridgeFixtureResult[] = [];
for (const [i, c] of data.calls.entries()) {
  try {
    const deadline = c.deadlineInMs === undefined ? undefined : Date.now() + c.deadlineInMs;
    results.push({ value: bridge.call({ op: 'kv', store: `call-${i}`, kv: { method: 'get', key: 'k' }, requestId: 'r', version: 'v', component: 'c' }, deadline) });
  } catch (err) {
    if (!(err instanceof HostCallError)) throw err;
    results.push({ status: err.status, message: err.message });
  }
}
parentPort!.postMessage(results);
