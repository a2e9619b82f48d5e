/**
 * Synchronous host calls from a worker to the main thread, for capabilities whose work is
 * asynchronous in Node (outbound HTTP, network stores). The worker posts the call on a dedicated
 * port and blocks in Atomics.wait; the main thread does the work on its event loop, posts the
 * reply, then wakes the worker, which takes the reply with receiveMessageOnPort. One call is in
 * flight per worker at a time (a worker runs one guest), so one signal word per worker suffices.
 * worker.terminate() interrupts the wait, so the request deadline still holds inside a host call.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { HostCallError, type StatusName } from './abi.js';
import type { HostCall, HostReply } from '../dispatch/protocol.js';

export interface BridgeEnds {
  /** Stays on the main thread. */
  mainPort: MessagePort;
  /** Transferred to the worker. */
  workerPort: MessagePort;
  signal: SharedArrayBuffer;
}

export function createBridgeEnds(): BridgeEnds {
  const { port1, port2 } = new MessageChannel();
  return { mainPort: port1, workerPort: port2, signal: new SharedArrayBuffer(4) };
}

/** Main thread: answers a worker's calls with `handle`, which never rejects with anything but a reply. */
export function serveHostCalls(ends: Pick<BridgeEnds, 'mainPort' | 'signal'>, handle: (call: HostCall) => Promise<HostReply>): void {
  const word = new Int32Array(ends.signal);
  ends.mainPort.on('message', (call: HostCall) => {
    handle(call).then(
      (reply) => answer(reply),
      (err: unknown) => answer({ ok: false, status: 'UNAVAILABLE', message: `host call failed: ${err instanceof Error ? err.message : String(err)}` }),
    );
  });
  const answer = (reply: HostReply) => {
    ends.mainPort.postMessage(reply);
    Atomics.store(word, 0, 1);
    Atomics.notify(word, 0);
  };
}

/** Worker: makes the call and blocks until the reply; a refusal comes back as a HostCallError. */
export class HostBridge {
  private readonly word: Int32Array;
  constructor(
    private readonly port: MessagePort,
    signal: SharedArrayBuffer,
  ) {
    this.word = new Int32Array(signal);
  }

  call<T>(call: HostCall): T {
    Atomics.store(this.word, 0, 0);
    this.port.postMessage(call);
    Atomics.wait(this.word, 0, 0);
    const received = receiveMessageOnPort(this.port);
    if (!received) throw new HostCallError('UNAVAILABLE', 'the host answered without a reply');
    const reply = received.message as HostReply;
    if (!reply.ok) throw new HostCallError(reply.status as StatusName, reply.message);
    return reply.value as T;
  }
}
