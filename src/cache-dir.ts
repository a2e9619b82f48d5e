/** Where Verge keeps what it can make again: transpiled JS components, the bundle's code cache. */
import os from 'node:os';
import path from 'node:path';

/** `$VERGE_CACHE_DIR`, else `$XDG_CACHE_HOME/verge`, else `~/.cache/verge`. */
export function vergeCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VERGE_CACHE_DIR) return path.resolve(env.VERGE_CACHE_DIR);
  return path.join(env.XDG_CACHE_HOME ? path.resolve(env.XDG_CACHE_HOME) : path.join(os.homedir(), '.cache'), 'verge');
}
