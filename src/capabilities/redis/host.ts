/**
 * The Redis capability's main-thread side: connection pools per address for the whole node, a
 * circuit breaker per pool, and the answers to the workers' `redis` host calls.
 *
 * Opening resolves the guest's target: a granted `[redis.NAME]` (the operator's URL, which the
 * guest never sees), or a redis:// address that must pass allowed_outbound_hosts and the address
 * checks HTTP uses (outbound-http/resolve.ts), after which its pool connects only to the
 * addresses that were checked. Opening also makes sure the pool can reach the server, so a server
 * that is down is reported at open, as Spin does. Each call is bounded by the component's
 * `outbound_timeout_ms` and by the request's deadline; a pool whose server keeps failing trips
 * its breaker, and calls fail at once with UNAVAILABLE until a trial call gets through.
 */
import { HostCallError, type StatusName } from '../abi.js';
import type { HostCall, HostReply, RedisItem } from '../../dispatch/protocol.js';
import { DEADLINE_BACKSTOP_MS } from '../../dispatch/host-bridge.js';
import type { Logger } from '../../telemetry/logging.js';
import type { RequestContext } from '../capability.js';
import { createBreaker, type Breaker } from '../kv/breaker.js';
import { checkDestination, defaultLookup } from '../outbound-http/resolve.js';
import type { OutboundPolicy } from '../outbound-http/policy.js';
import { describeAddress, parseRedisAddress, type RedisAddress } from '../../backends/redis/address.js';
import { RedisPool } from '../../backends/redis/pool.js';
import { RespError, RespStatus, type RespValue } from '../../backends/redis/resp.js';
import { REDIS_LIMITS } from './limits.js';

interface PoolEntry {
  readonly pool: RedisPool;
  readonly breaker: Breaker;
  lastUsed: number;
}

/** Every pool of the node, by address (credentials and pinned addresses included in the key). */
const pools = new Map<string, PoolEntry>();

/** One app version's view: its named connections, resolved, and each component's policy and bound. */
export interface RedisVersionState {
  readonly named: ReadonlyMap<string, { address: RedisAddress; maxConnections: number }>;
  readonly components: ReadonlyMap<string, { names: ReadonlySet<string>; policy: OutboundPolicy | undefined; timeoutMs: number }>;
  readonly logger: Logger;
}

type RedisCall = Extract<HostCall, { op: 'redis' }>;

const refuse = (status: StatusName, message: string): HostReply => ({ ok: false, status, message });

export async function answerRedisCall(call: RedisCall, request: RequestContext, state: RedisVersionState): Promise<HostReply> {
  const component = state.components.get(call.component);
  if (!component) return refuse('ACCESS_DENIED', `component ${call.component} has no Redis grants`);
  // Past the request's deadline by the backstop only: the pool's own deadline answer must win (host-bridge.ts).
  const deadlineAt = Math.min(Date.now() + component.timeoutMs, (call.deadlineAt ?? Infinity) + DEADLINE_BACKSTOP_MS);
  const opened = request.local('redis.connections', () => [] as PoolEntry[]);
  try {
    const op = call.redis;
    if (op.action === 'open') {
      const entry = await poolForTarget(op.target, component, state, request.signal);
      entry.lastUsed = Date.now();
      await entry.breaker.callAsync(() => entry.pool.use(deadlineAt, async () => undefined));
      opened.push(entry);
      return { ok: true, value: opened.length - 1 };
    }
    const entry = opened[op.conn];
    if (!entry) return refuse('INVALID_ARGUMENT', `no Redis connection ${op.conn} is open in this request`);
    entry.lastUsed = Date.now();
    const [reply] = await entry.breaker.callAsync(() => entry.pool.use(deadlineAt, (conn) => conn.run([op.command], deadlineAt)));
    return { ok: true, value: flatten(reply!, entry.pool.address) };
  } catch (err) {
    if (err instanceof HostCallError) return refuse(err.status, err.message);
    throw err;
  }
}

async function poolForTarget(
  target: string,
  component: { names: ReadonlySet<string>; policy: OutboundPolicy | undefined },
  state: RedisVersionState,
  signal: AbortSignal,
): Promise<PoolEntry> {
  if (!target.includes('://')) {
    const named = state.named.get(target);
    if (!named || !component.names.has(target)) throw new HostCallError('ACCESS_DENIED', `redis connection ${JSON.stringify(target)} is not granted to this component`);
    return poolFor(named.address, undefined, named.maxConnections, state.logger);
  }
  const address = parseRedisAddress(target);
  if (typeof address === 'string') throw new HostCallError('INVALID_ARGUMENT', `${describeAddress(target)}: expected ${address}`);
  if (!component.policy) throw new HostCallError('ACCESS_DENIED', `${address.shown}: the component has no allowed_outbound_hosts`);
  // The same checks as an HTTP call's: scheme, host and port allowed; every address public unless the host is named literally.
  const addresses = await checkDestination(address.url, component.policy, address.shown, defaultLookup, signal);
  return poolFor(address, addresses.map((a) => a.address), REDIS_LIMITS.poolSize, state.logger);
}

function poolFor(address: RedisAddress, pinned: readonly string[] | undefined, maxConnections: number, logger: Logger): PoolEntry {
  sweep();
  const key = JSON.stringify([address.tls, address.host, address.port, address.username, address.password, address.db, pinned, maxConnections]);
  let entry = pools.get(key);
  if (!entry) {
    const pool = new RedisPool({ address, pinned, maxConnections, idleTimeoutMs: REDIS_LIMITS.idleTimeoutMs, maxReplyBytes: REDIS_LIMITS.maxReplyBytes });
    const breaker = createBreaker({
      name: address.shown,
      subject: `Redis server ${address.shown}`,
      onStateChange: (state, reason) => {
        const line = { redis: address.shown, state, reason };
        if (state === 'open') logger.warn(line, 'redis circuit breaker opened');
        else logger.info(line, `redis circuit breaker ${state}`);
      },
    });
    pools.set(key, (entry = { pool, breaker, lastUsed: Date.now() }));
  }
  return entry;
}

/** Pools with no connection left and unused for the idle timeout go: guests may name many addresses. */
function sweep(now = Date.now()): void {
  for (const [key, entry] of pools) {
    if (entry.pool.stats.open === 0 && now - entry.lastUsed > REDIS_LIMITS.idleTimeoutMs) {
      entry.pool.close();
      pools.delete(key);
    }
  }
}

/** Closes every pool of the node (the node stops). */
export async function closeRedisPools(): Promise<void> {
  for (const entry of pools.values()) entry.pool.close();
  pools.clear();
}

/**
 * A reply as the guest gets it: a list of values, nested arrays spread in order (Spin's
 * redis-result). An error reply is refused with the status that fits it, and its text.
 */
function flatten(reply: RespValue, address: RedisAddress): RedisItem[] {
  const out: RedisItem[] = [];
  const add = (v: RespValue): void => {
    if (v === null) out.push({ tag: 'nil' });
    else if (typeof v === 'bigint') out.push({ tag: 'int64', val: v });
    else if (v instanceof Uint8Array) out.push({ tag: 'binary', val: v });
    else if (v instanceof RespStatus) out.push({ tag: 'status', val: v.text });
    else if (v instanceof RespError) throw replyError(v, address);
    else v.forEach(add);
  };
  add(reply);
  return out;
}

/** The status for an error reply: the guest's doing (a wrong type, not a number, bad syntax) or the server's state. */
function replyError(reply: RespError, address: RedisAddress): HostCallError {
  const text = `${address.shown}: ${reply.text.slice(0, 300)}`;
  if (/not an integer|not a valid float|out of range|overflow/i.test(reply.text)) return new HostCallError('NOT_A_NUMBER', text);
  switch (reply.code) {
    case 'NOPERM':
    case 'NOAUTH':
      return new HostCallError('ACCESS_DENIED', text);
    case 'OOM':
    case 'BUSY':
    case 'LOADING':
    case 'READONLY':
    case 'MASTERDOWN':
    case 'TRYAGAIN':
    case 'CLUSTERDOWN':
      return new HostCallError('UNAVAILABLE', text);
    default:
      // WRONGTYPE, syntax errors, a wrong number of arguments.
      return new HostCallError('INVALID_ARGUMENT', text);
  }
}
