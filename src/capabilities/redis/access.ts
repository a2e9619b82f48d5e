/**
 * The Redis capability inside a worker, shared by both bindings: the grant check (a name in
 * `redis = [...]`, or an address for a component with allowed_outbound_hosts — the allow-list
 * itself is applied on the main thread, where DNS is), the guest-input checks (checks.ts),
 * per-request connection handles, and the calls over the host bridge.
 */
import { HostCallError } from '../abi.js';
import type { GuestScope } from '../../sandbox/scope.js';
import type { RedisItem } from '../../dispatch/protocol.js';
import { describeAddress } from '../../backends/redis/address.js';
import { checkCommand, checkTarget } from './checks.js';
import { REDIS_LIMITS } from './limits.js';

const decoder = new TextDecoder();

export type RedisAccess = ReturnType<typeof redisAccess>;

export function redisAccess(scope: GuestScope) {
  /** This request's connections: the guest's handle is the index, the value the main thread's id. */
  const connections = () => scope.frame.local<Array<{ id: number; target: string }>>('redis.connections', () => []);

  const targetShown = (target: string) => (target.includes('://') ? describeAddress(target) : `connection ${JSON.stringify(target)}`);

  return {
    /** Opens a granted connection by name, or an address the allow-list will check; returns the guest's handle. */
    open(target: string, api: string): number {
      checkTarget(target, api);
      const { grants, component } = scope.frame;
      const redis = grants.redis;
      if (target.includes('://')) {
        if (!redis?.byAddress) {
          throw new HostCallError('ACCESS_DENIED', `component ${component} has no allowed_outbound_hosts, so ${describeAddress(target)} is refused`);
        }
      } else if (!redis?.names.includes(target)) {
        throw new HostCallError('ACCESS_DENIED', `redis connection ${JSON.stringify(target)} is not granted to component ${component} (redis = ${JSON.stringify(redis?.names ?? [])})`);
      }
      const list = connections();
      if (list.length >= REDIS_LIMITS.maxConnectionsPerRequest) {
        throw new HostCallError('LIMIT_EXCEEDED', `at most ${REDIS_LIMITS.maxConnectionsPerRequest} Redis connections may be opened per request: open each once and keep its handle`);
      }
      const id = scope.traced('redis', 'redis open', () => ({ 'db.system.name': 'redis', 'verge.redis.target': targetShown(target) }), () =>
        scope.call<number>({ op: 'redis', redis: { action: 'open', target } }),
        undefined,
        'client',
      );
      list.push({ id, target });
      return list.length - 1;
    },

    /** Runs one allow-listed command on the handle's connection; the reply flattened into items. */
    execute(handle: number, name: string, args: readonly Uint8Array[], api: string): RedisItem[] {
      const conn = connections()[handle];
      if (conn === undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: no Redis connection has handle ${handle} in this request; open one first`);
      const command = checkCommand(name, args, api);
      const op = decoder.decode(command[0]);
      // The span names the command and the server, never a key or a value.
      return scope.traced('redis', op, () => ({ 'db.system.name': 'redis', 'db.operation.name': op, 'verge.redis.target': targetShown(conn.target) }), () =>
        scope.call<RedisItem[]>({ op: 'redis', redis: { action: 'execute', conn: conn.id, command } }),
        undefined,
        'client',
      );
    },
  };
}
