/**
 * Per-app capability state on the main thread, built once at start from the validated manifest:
 * variable values, where each store lives, outbound policies, and the host-call handler. It also
 * resolves each component's grants into the plain data its workers receive.
 */
import path from 'node:path';
import { VergeError } from '../errors.js';
import type { KvStore } from '../backends/store.js';
import { createMemoryStore } from '../backends/memory/memory-store.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import type { Logger } from '../logging.js';
import type { ComponentGrants } from '../dispatch/protocol.js';
import { createHostCalls } from './host-calls.js';
import { StoreBreakers, type OnBreakerChange } from './kv/store-breakers.js';
import { parseAllowedHosts, type OutboundPolicy } from './outbound-http/policy.js';
import { outboundLimits, type OutboundLimits } from './outbound-http/limits.js';
import { resolveVariables, readDotenv, type ResolvedVariable } from './variables/resolve.js';

export interface CapabilityOptions {
  /** Where SQLite stores live; relative paths resolve against the manifest's folder. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
  envFile?: string | undefined;
  onBreaker?: OnBreakerChange;
}

export const DEFAULT_DATA_DIR = '.verge/data';

export function prepareCapabilities(app: AppConfig, opts: CapabilityOptions, logger: Logger) {
  const variables = resolveVariables(app.variables, { env: opts.env, dotenv: opts.envFile ? readDotenv(opts.envFile) : undefined });
  const dataDir = path.resolve(app.dir, opts.dataDir);

  const mainStores = new Map<string, { store: KvStore; breakers: StoreBreakers }>();
  for (const decl of app.keyValueStores.values()) {
    if (decl.backend !== 'memory') continue;
    mainStores.set(decl.name, {
      store: createMemoryStore(),
      breakers: new StoreBreakers(decl.name, opts.onBreaker),
    });
  }

  const policies = new Map<string, { policy: OutboundPolicy; limits: OutboundLimits }>();
  for (const c of app.components.values()) {
    if (c.allowedOutboundHosts.length === 0) continue;
    const parsed = parseAllowedHosts(c.allowedOutboundHosts, `component.${c.name}.allowed_outbound_hosts`);
    if ('errors' in parsed) throw new VergeError('MANIFEST_INVALID', parsed.errors.join('\n')); // validated at load already
    policies.set(c.name, { policy: parsed.policy, limits: outboundLimits({ timeoutMs: c.limits.outboundTimeoutMs }) });
  }

  const grantsFor = (c: ComponentConfig): ComponentGrants => ({
    kvStores: c.keyValueStores.map((name) => {
      const decl = app.keyValueStores.get(name)!;
      return { name, backend: decl.backend, file: decl.backend === 'sqlite' ? path.join(dataDir, `${name}.sqlite`) : undefined };
    }),
    variables: c.variables.map((name) => {
      const v = variables.get(name) as ResolvedVariable;
      return { name, value: v.value, secret: v.secret };
    }),
    outbound: policies.has(c.name),
  });

  const hostCalls = createHostCalls({ policies, stores: mainStores, logger });
  const close = async () => {
    await Promise.all([...mainStores.values()].map((s) => s.store.close()));
    await hostCalls.close();
  };
  return { dataDir, grantsFor, hostCalls, close };
}
