/**
 * The main thread's side of host calls: the work a worker cannot do synchronously. Outbound HTTP
 * (policy, SSRF rules, redirects, limits: outbound-http/fetch.ts) and stores whose backend lives
 * here (memory; later Redis and NATS), each behind its circuit breaker. Per inbound request it
 * keeps the outbound budget and an AbortController, so a request that ends or is killed stops its
 * outbound calls.
 */
import { StoreError, type KvStore } from '../backends/store.js';
import type { Logger } from '../logging.js';
import type { HostCall, HostReply, OutboundResponseSpec } from '../dispatch/protocol.js';
import { applyKvOp } from './kv/ops.js';
import type { StoreBreakers } from './kv/store-breakers.js';
import { isOutboundError } from './outbound-http/errors.js';
import { createRequestBudget, type OutboundLimits, type RequestBudget } from './outbound-http/limits.js';
import type { OutboundPolicy } from './outbound-http/policy.js';

export interface HostCallDeps {
  /** Per component: its allow-list and limits. */
  policies: ReadonlyMap<string, { policy: OutboundPolicy; limits: OutboundLimits }>;
  /** Stores served from the main thread, by name. */
  stores: ReadonlyMap<string, { store: KvStore; breakers: StoreBreakers }>;
  logger: Logger;
}

interface RequestState {
  budget: RequestBudget;
  abort: AbortController;
}

/** undici costs ~45 ms to import: loaded on the first outbound call, not at every start. */
let fetchModule: Promise<typeof import('./outbound-http/fetch.js')> | undefined;

export function createHostCalls(deps: HostCallDeps) {
  const requests = new Map<string, RequestState>();
  const stateOf = (id: string): RequestState => {
    let s = requests.get(id);
    if (!s) requests.set(id, (s = { budget: createRequestBudget(), abort: new AbortController() }));
    return s;
  };

  /** Anything but a store or outbound refusal is a bug in Verge: logged here, UNAVAILABLE for the guest. */
  const handle = async (call: HostCall): Promise<HostReply> => {
    try {
      return await dispatch(call);
    } catch (err) {
      deps.logger.error({ request_id: call.requestId, component: call.component, op: call.op, err }, 'host call failed');
      return { ok: false, status: 'UNAVAILABLE', message: `the host failed while serving ${call.op}: ${err instanceof Error ? err.message : String(err)}` };
    }
  };

  const dispatch = async (call: HostCall): Promise<HostReply> => {
    switch (call.op) {
      case 'kv': {
        const entry = deps.stores.get(call.store);
        if (!entry) return { ok: false, status: 'UNAVAILABLE', message: `store ${call.store} is not served by this node` };
        try {
          return { ok: true, value: await entry.breakers.for(call.kv).callAsync(() => applyKvOp(entry.store, call.kv)) };
        } catch (err) {
          if (err instanceof StoreError) return { ok: false, status: err.reason, message: `store ${call.store}: ${err.message}` };
          throw err;
        }
      }
      case 'http': {
        const outbound = deps.policies.get(call.component);
        if (!outbound) return { ok: false, status: 'ACCESS_DENIED', message: `component ${call.component} has no allowed_outbound_hosts` };
        const state = stateOf(call.requestId);
        try {
          state.budget.take();
          const { sendOutbound } = await (fetchModule ??= import('./outbound-http/fetch.js'));
          const response: OutboundResponseSpec = await sendOutbound(call.request, { ...outbound, signal: state.abort.signal });
          return { ok: true, value: response };
        } catch (err) {
          if (isOutboundError(err)) return { ok: false, status: err.code, message: err.message };
          throw err;
        }
      }
    }
  };

  /** The inbound request is answered (or killed): stop its outbound calls and forget its budget. */
  const endRequest = (id: string): void => {
    const s = requests.get(id);
    if (!s) return;
    s.abort.abort();
    requests.delete(id);
  };

  /** Closes pooled outbound connections, if the outbound module was ever loaded. */
  const close = async (): Promise<void> => {
    if (fetchModule) await (await fetchModule).closeOutboundPool();
  };

  return { handle, endRequest, close };
}
