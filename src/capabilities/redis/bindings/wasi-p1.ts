/**
 * verge:v1 redis_* for WAGI modules (docs/abi.md): lengths are checked before guest memory is
 * read, then redis/access.ts checks the grant and the command and runs it. A reply is kept per
 * connection until the next redis_execute on it, so a guest whose buffer was too small reads it
 * again with redis_result instead of running the command twice.
 */
import { HostCallError } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { redisAccess } from '../access.js';
import { decodeArguments, encodeItems } from '../encoding.js';
import { REDIS_LIMITS } from '../limits.js';

/** The largest argument block: every argument's bytes and its 4-byte length. */
const MAX_BLOCK_BYTES = REDIS_LIMITS.maxCommandBytes + 4 * REDIS_LIMITS.maxArguments;

export function redisImports(scope: GuestScope) {
  const mem = scope.memory;
  const redis = redisAccess(scope);
  /** The last reply on each of this request's connections, encoded. */
  const results = () => scope.frame.local('redis.results', () => new Map<number, Uint8Array>());
  const text = (ptr: number, len: number, max: number, what: string, api: string): string => {
    if (len >>> 0 > max) throw new HostCallError('LIMIT_EXCEEDED', `${api}: the ${what} may be at most ${max} bytes, got ${len >>> 0}`);
    const s = mem.string(ptr, len, api);
    if (s === undefined) throw new HostCallError('INVALID_ARGUMENT', `${api}: the ${what} is not valid UTF-8`);
    return s;
  };

  return {
    redis_open: (ptr: number, len: number) =>
      scope.guard('redis_open', () => redis.open(text(ptr, len, REDIS_LIMITS.maxTargetBytes, 'connection name or address', 'redis_open'), 'redis_open')),

    redis_execute: (conn: number, cmdPtr: number, cmdLen: number, argsPtr: number, argsLen: number) =>
      scope.guard('redis_execute', () => {
        const api = 'redis_execute';
        results().delete(conn);
        const name = text(cmdPtr, cmdLen, 64, 'command name', api);
        if (argsLen >>> 0 > MAX_BLOCK_BYTES) throw new HostCallError('LIMIT_EXCEEDED', `${api}: a Redis command may be at most ${REDIS_LIMITS.maxCommandBytes} bytes (10 MiB) with its arguments, got an argument block of ${argsLen >>> 0}`);
        const args = decodeArguments(mem.copy(argsPtr, argsLen, api), api);
        const encoded = encodeItems(redis.execute(conn, name, args, api));
        results().set(conn, encoded);
        return encoded.length;
      }),

    redis_result: (conn: number, outPtr: number, outCap: number) =>
      scope.guard('redis_result', () => {
        const r = results().get(conn);
        if (!r) throw new HostCallError('INVALID_ARGUMENT', `redis_result: connection ${conn} has no reply to read: call redis_execute first`);
        return mem.writeOut(outPtr, outCap, r, 'redis_result');
      }),
  };
}
