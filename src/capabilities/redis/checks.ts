/**
 * Guest input to the Redis capability, checked once in the worker for both bindings (verge:v1
 * and fermyon:spin/redis) before anything reaches the main thread: the connection's name or
 * address, the command against the allow-list (commands.ts), and the sizes (limits.ts).
 */
import { HostCallError } from '../abi.js';
import { ALLOWED_COMMANDS, REFUSED_BECAUSE } from './commands.js';
import { REDIS_LIMITS } from './limits.js';

/** A `[redis.NAME]` name or a redis:// address, as the guest gave it. */
export function checkTarget(target: string, api: string): string {
  if (target === '') throw new HostCallError('INVALID_ARGUMENT', `${api}: the connection name or address is empty`);
  if (Buffer.byteLength(target) > REDIS_LIMITS.maxTargetBytes) {
    throw new HostCallError('LIMIT_EXCEEDED', `${api}: a connection name or address may be at most ${REDIS_LIMITS.maxTargetBytes} bytes`);
  }
  if (/[\x00-\x1f\x7f]/.test(target)) throw new HostCallError('INVALID_ARGUMENT', `${api}: the connection name or address has a control character`);
  return target;
}

const encoder = new TextEncoder();

/**
 * The command to send: its name upper-cased and on the allow-list, with its arguments within the
 * limits. ACCESS_DENIED names the command and says why it is refused.
 */
export function checkCommand(name: string, args: readonly Uint8Array[], api: string): Uint8Array[] {
  const upper = name.toUpperCase();
  if (!/^[A-Z][A-Z0-9_]{0,31}$/.test(upper)) throw new HostCallError('INVALID_ARGUMENT', `${api}: ${JSON.stringify(name.slice(0, 40))} is not a Redis command name`);
  if (!ALLOWED_COMMANDS.has(upper)) {
    const why = REFUSED_BECAUSE[upper] ?? 'it is not on the allow-list of data commands';
    throw new HostCallError('ACCESS_DENIED', `${api}: Redis command ${upper} is not allowed: ${why} (docs/data.md lists the commands guests may run)`);
  }
  if (args.length > REDIS_LIMITS.maxArguments) {
    throw new HostCallError('LIMIT_EXCEEDED', `${api}: a Redis command may have at most ${REDIS_LIMITS.maxArguments} arguments, got ${args.length}`);
  }
  let bytes = upper.length;
  for (const a of args) bytes += a.length;
  if (bytes > REDIS_LIMITS.maxCommandBytes) {
    throw new HostCallError('LIMIT_EXCEEDED', `${api}: a Redis command may be at most ${REDIS_LIMITS.maxCommandBytes} bytes (10 MiB) with its arguments, got ${bytes}`);
  }
  return [encoder.encode(upper), ...args];
}
