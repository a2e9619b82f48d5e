/** The variables capability: `[variables]` and grants, verge:v1 variable_get, wasi:config/store. */
import type { Capability } from '../capability.js';
import { variablesImports } from './bindings/wasi-p1.js';
import { variablesComponentImports } from './bindings/component.js';
import { readDotenv, resolveVariables, type ResolvedVariable } from './resolve.js';
import { readVariableGrants, readVariables } from './schema.js';
import { fillTemplate, templateReferences } from './template.js';

/**
 * A component variable from its template: no value while an app variable it names has none, and
 * secret when any it names is (a secret's value never reaches a log, in whatever it is part of).
 */
function renderComponentVariable(name: string, template: string, values: ReadonlyMap<string, ResolvedVariable>): { name: string; value: string | undefined; secret: boolean } {
  const used = (templateReferences(template) as string[]).map((v) => values.get(v) as ResolvedVariable);
  const secret = used.some((v) => v.secret);
  if (used.some((v) => v.value === undefined)) return { name, value: undefined, secret };
  return { name, value: fillTemplate(template, (v) => values.get(v)!.value!), secret };
}

export const variablesCapability: Capability = {
  name: 'variables',
  manifest: {
    readApp: (root, problems) => ({ variables: readVariables(root, problems) }),
    readComponent: (c, app, problems) => {
      const { variables, variableTemplates } = readVariableGrants(c, app.variables, problems);
      return { variables: Object.freeze(variables), variableTemplates };
    },
  },
  inheritable: [{ key: 'variables', fields: ['variables', 'variableTemplates'] }],
  provides: { vergeV1: ['variable_get'], wasi: ['wasi:config/store'] },
  prepare(app, ctx) {
    // Resolved per version: a new version reads the environment (and the env file) again.
    const values = resolveVariables(app.variables, { env: ctx.env, dotenv: ctx.envFile ? readDotenv(ctx.envFile) : undefined });
    return {
      grants: (c) => ({
        variables: c.variables.map((name) => {
          const template = c.variableTemplates?.get(name);
          if (template === undefined) {
            const v = values.get(name) as ResolvedVariable;
            return { name, value: v.value, secret: v.secret };
          }
          return renderComponentVariable(name, template, values);
        }),
      }),
    };
  },
  bindings: { wasiP1: variablesImports, component: variablesComponentImports },
};
