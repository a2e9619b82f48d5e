/**
 * The one-app form node.ts uses today, over createCapabilityHost: the app is prepared as a single
 * version whose id is the app's name (GuestRequest.version carries it) until versions land.
 */
import path from 'node:path';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../logging.js';
import type { OnBreakerChange } from './kv/store-breakers.js';
import { createCapabilityHost, DEFAULT_DATA_DIR } from './host.js';

export { DEFAULT_DATA_DIR };

export interface CapabilityOptions {
  /** Where SQLite stores live; relative paths resolve against the manifest's folder. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  envFile?: string | undefined;
  onBreaker?: OnBreakerChange;
}

export function prepareCapabilities(app: AppConfig, opts: CapabilityOptions, logger: Logger) {
  const host = createCapabilityHost({ ...opts, logger });
  const version = app.name;
  const prepared = host.prepare(version, app);
  return {
    version,
    dataDir: path.resolve(app.dir, opts.dataDir),
    grantsFor: (c: ComponentConfig) => prepared.grantsFor(c.name),
    hostCalls: { handle: host.handle, endRequest: host.endRequest },
    close: () => host.close(),
  };
}
