/**
 * Interim: per-version capability state over prepareCapabilities, until capabilities/ offers its
 * own host. Host calls are routed to the version their request was bound to.
 */
import type { AppConfig } from '../manifest/config.js';
import type { ComponentGrants, HostCall, HostReply } from '../dispatch/protocol.js';
import type { Logger } from '../logging.js';
import type { OnBreakerChange } from '../capabilities/kv/store-breakers.js';
import { prepareCapabilities } from '../capabilities/runtime.js';

export interface CapabilityHostOptions {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  envFile?: string | undefined;
  onBreaker?: OnBreakerChange;
  logger: Logger;
}

export interface PreparedApp {
  grantsFor(component: string): ComponentGrants;
  release(): void;
}

export interface CapabilityHost {
  prepare(versionId: string, app: AppConfig): PreparedApp;
  handle(call: HostCall & { version?: string }): Promise<HostReply>;
  /** Which version a request is bound to (host calls carry only the request id). */
  bindRequest(requestId: string, versionId: string): void;
  endRequest(requestId: string): void;
  close(): Promise<void>;
}

export function createCapabilityHost(opts: CapabilityHostOptions): CapabilityHost {
  const versions = new Map<string, ReturnType<typeof prepareCapabilities>>();
  const requests = new Map<string, string>();
  return {
    prepare(versionId, app) {
      const caps = prepareCapabilities(app, { dataDir: opts.dataDir, env: opts.env, envFile: opts.envFile, onBreaker: opts.onBreaker }, opts.logger);
      versions.set(versionId, caps);
      return {
        grantsFor: (component) => caps.grantsFor(app.components.get(component)!),
        release: () => {
          versions.delete(versionId);
          void caps.close();
        },
      };
    },
    async handle(call) {
      const versionId = call.version ?? requests.get(call.requestId);
      const caps = versionId === undefined ? undefined : versions.get(versionId);
      if (!caps) return { ok: false, status: 'UNAVAILABLE', message: `request ${call.requestId} is not bound to a loaded version` };
      return caps.hostCalls.handle(call);
    },
    bindRequest(requestId, versionId) {
      requests.set(requestId, versionId);
    },
    endRequest(requestId) {
      const versionId = requests.get(requestId);
      requests.delete(requestId);
      if (versionId !== undefined) versions.get(versionId)?.hostCalls.endRequest(requestId);
    },
    async close() {
      await Promise.all([...versions.values()].map((c) => c.close()));
      versions.clear();
    },
  };
}
