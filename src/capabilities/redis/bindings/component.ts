/**
 * fermyon:spin/redis@2.0.0 for components: Spin's `connection` resource (wit/deps/spin), so a
 * Spin component runs unchanged. Every method is a command through redis/access.ts — the same
 * grants, allow-list and limits as verge:v1. `open` takes a `[redis.NAME]` the component is
 * granted, or a redis:// address for allowed_outbound_hosts (as on Spin). Errors: a malformed
 * address is `invalid-address`, too many connections `too-many-connections`, a value that is not
 * a number or a key of the wrong type `type-error`, anything else `other("STATUS: message")`
 * with the verge:v1 status first. A connection kept by a reused instance past its request fails.
 */
import { HostCallError } from '../../abi.js';
import type { RedisItem } from '../../../dispatch/protocol.js';
import type { Frame, GuestScope } from '../../../sandbox/scope.js';
import { described, guarded } from '../../component-result.js';
import type { Result } from '../../../sandbox/component/wasi-io.js';
import { redisAccess } from '../access.js';

type SpinRedisError = { tag: 'invalid-address' } | { tag: 'too-many-connections' } | { tag: 'type-error' } | { tag: 'other'; val: string };
type RedisParameter = { tag: 'int64'; val: bigint } | { tag: 'binary'; val: Uint8Array };

const API = 'fermyon:spin/redis';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const spinError = (e: HostCallError): SpinRedisError => {
  if (e.status === 'NOT_A_NUMBER' || (e.status === 'INVALID_ARGUMENT' && e.message.includes('WRONGTYPE'))) return { tag: 'type-error' };
  return { tag: 'other', val: described(e) };
};

const openError = (e: HostCallError): SpinRedisError => {
  if (e.status === 'INVALID_ARGUMENT') return { tag: 'invalid-address' };
  if (e.status === 'LIMIT_EXCEEDED') return { tag: 'too-many-connections' };
  return spinError(e);
};

function unexpected(items: readonly RedisItem[], wanted: string): HostCallError {
  return new HostCallError('UNAVAILABLE', `the server answered ${items.map((i) => i.tag).join(', ') || 'nothing'} where ${wanted} was expected`);
}

export function redisComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  const redis = redisAccess(scope);

  class Connection {
    constructor(
      private readonly handle: number,
      private readonly frame: Frame,
    ) {}

    static open(address: string): Result<Connection, SpinRedisError> {
      return guarded(scope, `${API}.open`, () => new Connection(redis.open(address, `${API}.open`), scope.frame), openError);
    }

    /** Runs a command for this request; `shape` turns the reply into the method's result. */
    private run<T>(method: string, name: string, args: Array<string | Uint8Array>, shape: (items: RedisItem[]) => T): Result<T, SpinRedisError> {
      const api = `${API}.connection.${method}`;
      return guarded(
        scope,
        api,
        () => {
          if (this.frame !== scope.frame || !this.frame.live) throw new HostCallError('INVALID_ARGUMENT', `${api}: this connection was opened by an earlier request; open one in each request`);
          return shape(redis.execute(this.handle, name, args.map((a) => (typeof a === 'string' ? encoder.encode(a) : a)), api));
        },
        spinError,
      );
    }

    publish(channel: string, payload: Uint8Array) {
      return this.run('publish', 'PUBLISH', [channel, payload], () => undefined);
    }

    get(key: string) {
      return this.run('get', 'GET', [key], (items) => {
        const [v] = items;
        if (v?.tag === 'nil') return undefined;
        if (v?.tag === 'binary') return v.val;
        throw unexpected(items, 'a value or nil');
      });
    }

    set(key: string, value: Uint8Array) {
      return this.run('set', 'SET', [key, value], () => undefined);
    }

    incr(key: string) {
      return this.run('incr', 'INCR', [key], (items) => integer(items));
    }

    del(keys: string[]) {
      return this.run('del', 'DEL', keys, (items) => Number(integer(items)));
    }

    sadd(key: string, values: string[]) {
      return this.run('sadd', 'SADD', [key, ...values], (items) => Number(integer(items)));
    }

    smembers(key: string) {
      return this.run('smembers', 'SMEMBERS', [key], (items) =>
        items.map((i) => {
          if (i.tag !== 'binary') throw unexpected(items, 'set members');
          return decoder.decode(i.val);
        }),
      );
    }

    srem(key: string, values: string[]) {
      return this.run('srem', 'SREM', [key, ...values], (items) => Number(integer(items)));
    }

    execute(command: string, args: RedisParameter[]) {
      return this.run('execute', command, args.map((a) => (a.tag === 'int64' ? String(a.val) : a.val)), (items) => items);
    }
  }

  return { [API]: { Connection } };
}

function integer(items: readonly RedisItem[]): bigint {
  const [v] = items;
  if (items.length === 1 && v?.tag === 'int64') return v.val;
  throw unexpected(items, 'an integer');
}

