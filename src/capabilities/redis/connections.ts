/**
 * An app's `[redis.NAME]` connections with their variables filled in, on the main thread: for
 * the capability's state per version and for the triggers. Errors name the manifest key, never
 * the URL (its variables may hold a password).
 */
import { VergeError } from '../../errors.js';
import { tomlKey } from '../../manifest/fields.js';
import type { AppConfig } from '../../manifest/config.js';
import { parseRedisAddress, type RedisAddress } from '../../backends/redis/address.js';
import { readDotenv, resolveVariables } from '../variables/resolve.js';
import { expandTemplate } from '../variables/template.js';

export interface ResolvedConnection {
  readonly address: RedisAddress;
  readonly maxConnections: number;
}

export function resolveRedisConnections(app: AppConfig, sources: { env: NodeJS.ProcessEnv; envFile: string | undefined }): Map<string, ResolvedConnection> {
  let values: ReturnType<typeof resolveVariables> | undefined;
  const named = new Map<string, ResolvedConnection>();
  for (const decl of app.redis.values()) {
    const where = `redis.${tomlKey(decl.name)}.url`;
    const url =
      decl.variables.length === 0
        ? decl.url
        : expandTemplate(decl.url, (values ??= resolveVariables(app.variables, { env: sources.env, dotenv: sources.envFile ? readDotenv(sources.envFile) : undefined })), `${app.file}: ${where}`);
    const address = parseRedisAddress(url);
    if (typeof address === 'string') throw new VergeError('MANIFEST_INVALID', `${app.file}: ${where}: expected ${address} once its variables are filled in`);
    named.set(decl.name, { address, maxConnections: decl.maxConnections });
  }
  return named;
}
