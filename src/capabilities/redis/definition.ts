/** The Redis capability: `[redis.NAME]`, `redis = [...]`, verge:v1 redis_*, fermyon:spin/redis. */
import { tomlKey } from '../../manifest/fields.js';
import type { Capability } from '../capability.js';
import { checkTemplateVariables } from '../variables/template.js';
import { resolveRedisConnections } from './connections.js';
import { redisImports } from './bindings/wasi-p1.js';
import { redisComponentImports } from './bindings/component.js';
import { answerRedisCall, closeRedisPools, type RedisVersionState } from './host.js';
import { readRedisConnections, readRedisGrants, readRedisTriggers } from './schema.js';

export const redisCapability: Capability = {
  name: 'redis',
  manifest: {
    readApp: (root, problems) => {
      const redis = readRedisConnections(root, problems);
      return { redis, redisTriggers: Object.freeze(readRedisTriggers(root, redis, problems)) };
    },
    readComponent: (c, app) => ({ redis: Object.freeze(readRedisGrants(c, app.redis)) }),
    checkApp: (app, problems) => {
      for (const decl of app.redis.values()) checkTemplateVariables(`redis.${tomlKey(decl.name)}.url`, decl.variables, app.variables, problems);
      app.redisTriggers.forEach((t, i) => {
        if (!app.components.has(t.component)) problems.add(`trigger.redis[${i}].component`, `no [component.${tomlKey(t.component)}] is defined`);
      });
    },
  },
  // Only the names: a dependency opens addresses when it inherits allowed_outbound_hosts too.
  inheritable: [{ key: 'redis', fields: ['redis'] }],
  provides: { vergeV1: ['redis_open', 'redis_execute', 'redis_result'], wasi: ['fermyon:spin/redis'] },
  prepare(app, ctx) {
    const named = resolveRedisConnections(app, ctx);
    const components = new Map<string, RedisVersionState['components'] extends ReadonlyMap<string, infer V> ? V : never>();
    for (const c of app.components.values()) {
      if (c.redis.length === 0 && !c.outboundPolicy) continue;
      components.set(c.name, { names: new Set(c.redis), policy: c.outboundPolicy, timeoutMs: c.limits.outboundTimeoutMs });
    }
    const state: RedisVersionState = { named, components, logger: ctx.logger };
    return {
      // Absent for a component with neither: it may open nothing. A dependency's grants are its own
      // (what it inherits), checked in the worker; the main thread answers its calls as its parent's.
      grants: (c) => (c.redis.length > 0 || c.outboundPolicy ? { redis: { names: [...c.redis], byAddress: c.outboundPolicy !== undefined } } : {}),
      hostCalls: { redis: (call, request) => answerRedisCall(call, request, state) },
    };
  },
  close: closeRedisPools,
  bindings: { wasiP1: redisImports, component: redisComponentImports },
};
