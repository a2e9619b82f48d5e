/** The variables capability: `[variables]` and grants, verge:v1 variable_get, wasi:config/store. */
import type { Capability } from '../capability.js';
import { variablesImports } from './bindings/wasi-p1.js';
import { variablesComponentImports } from './bindings/component.js';
import { readDotenv, resolveVariables, type ResolvedVariable } from './resolve.js';
import { readVariableGrants, readVariables } from './schema.js';

export const variablesCapability: Capability = {
  name: 'variables',
  manifest: {
    readApp: (root, problems) => ({ variables: readVariables(root, problems) }),
    readComponent: (c, app) => ({ variables: Object.freeze(readVariableGrants(c, app.variables)) }),
  },
  inheritable: [{ key: 'variables', fields: ['variables'] }],
  provides: { vergeV1: ['variable_get'], wasi: ['wasi:config/store'] },
  prepare(app, ctx) {
    // Resolved per version: a new version reads the environment (and the env file) again.
    const values = resolveVariables(app.variables, { env: ctx.env, dotenv: ctx.envFile ? readDotenv(ctx.envFile) : undefined });
    return {
      grants: (c) => ({
        variables: c.variables.map((name) => {
          const v = values.get(name) as ResolvedVariable;
          return { name, value: v.value, secret: v.secret };
        }),
      }),
    };
  },
  bindings: { wasiP1: variablesImports, component: variablesComponentImports },
};
