/**
 * Synchronous host calls from a worker to the main thread, for capabilities whose work is
 * asynchronous in Node (outbound HTTP, network stores). The worker posts the call on a dedicated
 * port and blocks in Atomics.wait; the main thread does the work on its event loop, posts the
 * answer, then bumps a shared counter and wakes the worker, which takes the answer with
 * receiveMessageOnPort.
 *
 * Every call carries a correlation id, echoed on its answer: the worker drops an answer that is
 * not for the call it waits on (a late one, for a call it gave up on). Both sides bound a call:
 * the main thread answers TIMEOUT once min(the capability's bound, just past the request's deadline) has
 * passed (withinBound), and the worker stops waiting a little after the deadline even if the
 * main thread is stuck. worker.terminate() still interrupts the wait.
 */
import { MessageChannel, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { HostCallError, type StatusName } from '../capabilities/abi.js';
import type { HostAnswer, HostCall, HostCallRequest, HostReply } from './protocol.js';

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

/** How long the worker waits past the main thread's own bound before it stops waiting. */
export const WORKER_WAIT_GRACE_MS = 1000;

/** Main thread: answers a worker's calls with `handle`, which never rejects with anything but a reply. */
export function serveHostCalls(ends: Pick<BridgeEnds, 'mainPort' | 'signal'>, handle: (call: HostCall) => Promise<HostReply>): void {
  const word = new Int32Array(ends.signal);
  ends.mainPort.on('message', (call: HostCall) => {
    const answer = (reply: HostReply) => {
      const msg: HostAnswer = { callId: call.callId, reply };
      ends.mainPort.postMessage(msg);
      Atomics.add(word, 0, 1);
      Atomics.notify(word, 0);
    };
    handle(call).then(answer, (err: unknown) =>
      answer({ ok: false, status: 'UNAVAILABLE', message: `host call failed: ${err instanceof Error ? err.message : String(err)}` }),
    );
  });
}

/**
 * `work`'s reply, or TIMEOUT once min(`capabilityMs`, what is left of the request's deadline)
 * has passed: a hung backend costs the guest a TIMEOUT status, not its request and its worker.
 */
export function withinBound(call: Pick<HostCall, 'op' | 'deadlineAt'>, capabilityMs: number | undefined, work: Promise<HostReply>, now = Date.now()): Promise<HostReply> {
  const bound = callBound(call, capabilityMs, now);
  if (bound === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<HostReply>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, status: 'TIMEOUT', message: `${call.op} took longer than ${bound.ms} ms (${bound.why})` }), Math.max(0, bound.ms));
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * How long past the request's deadline the main thread still waits for the work. The pool ends a
 * request at its deadline itself (DEADLINE_EXCEEDED, worker terminated), and its timer must win:
 * a TIMEOUT answered at the same instant could reach the guest first, which would then answer
 * with its own error (CI saw a 500 where a 504 was due). So this answer is only a backstop.
 */
export const DEADLINE_BACKSTOP_MS = 250;

/** The tighter of the capability's bound and what is left of the request's deadline (plus the backstop's grace). */
export function callBound(call: Pick<HostCall, 'deadlineAt'>, capabilityMs: number | undefined, now: number): { ms: number; why: string } | undefined {
  const left = call.deadlineAt === undefined ? undefined : call.deadlineAt - now;
  if (left !== undefined && (capabilityMs === undefined || left <= capabilityMs)) return { ms: left + DEADLINE_BACKSTOP_MS, why: "the request's deadline" };
  if (capabilityMs !== undefined) return { ms: capabilityMs, why: 'the host-call bound' };
  return undefined;
}

/** Worker: makes the call and blocks until its reply; a refusal comes back as a HostCallError. */
export class HostBridge {
  private readonly word: Int32Array;
  private nextId = 1;

  constructor(
    private readonly port: MessagePort,
    signal: SharedArrayBuffer,
    private readonly now: () => number = Date.now,
  ) {
    this.word = new Int32Array(signal);
  }

  call<T>(request: HostCallRequest, deadlineAt?: number): T {
    const callId = this.nextId++;
    const call: HostCall = { ...request, callId, deadlineAt };
    this.port.postMessage(call);
    const giveUpAt = deadlineAt === undefined ? undefined : deadlineAt + WORKER_WAIT_GRACE_MS;
    for (;;) {
      // Read the counter before looking at the port: an answer posted after the look bumps it, so the wait returns.
      const seen = Atomics.load(this.word, 0);
      const received = receiveMessageOnPort(this.port);
      if (received) {
        const answer = received.message as HostAnswer;
        if (answer.callId !== callId) continue; // late: for a call this worker gave up on
        return unwrap<T>(answer.reply);
      }
      const left = giveUpAt === undefined ? Infinity : giveUpAt - this.now();
      if (left <= 0 || Atomics.wait(this.word, 0, seen, left) === 'timed-out') {
        throw new HostCallError('TIMEOUT', `${request.op}: the host did not answer before the request's deadline`);
      }
    }
  }
}

function unwrap<T>(reply: HostReply): T {
  if (!reply.ok) throw new HostCallError(reply.status as StatusName, reply.message);
  return reply.value as T;
}
