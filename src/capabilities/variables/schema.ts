/** `[variables]` at app level and `variables = [...]` grants per component. */
import type { Fields, ManifestProblems } from '../../manifest/fields.js';

export interface VariableDecl {
  name: string;
  default: string | undefined;
  required: boolean;
  secret: boolean;
}

/** Like Spin: lowercase letters, digits and "_", starting with a letter. */
export const VARIABLE_NAME = /^[a-z][a-z0-9_]{0,127}$/;

export function readVariables(root: Fields, problems: ManifestProblems): Map<string, VariableDecl> {
  const out = new Map<string, VariableDecl>();
  const t = root.table('variables');
  if (!t) return out;
  for (const name of Object.keys(t.raw)) {
    const v = t.table(name);
    if (!VARIABLE_NAME.test(name)) problems.add(`${t.path}.${name}`, 'the variable name is not valid: expected lowercase letters, digits and "_", starting with a letter');
    if (!v) continue;
    const def = v.value('default');
    if (def !== undefined && typeof def !== 'string') problems.add(v.keyPath('default'), `expected a string, got ${typeof def === 'bigint' ? 'an integer' : typeof def}`);
    const required = v.boolean('required') ?? false;
    const secret = v.boolean('secret') ?? false;
    v.done();
    if (required && def !== undefined) problems.add(v.path, 'a variable is either required or has a default, not both');
    out.set(name, Object.freeze({ name, default: typeof def === 'string' ? def : undefined, required, secret }));
  }
  return out;
}

export function readVariableGrants(c: Fields, vars: ReadonlyMap<string, VariableDecl>): string[] {
  return c.grantList('variables', vars, { expected: 'a variable name', missing: (name) => `no variable ${JSON.stringify(name)} is declared in [variables]` });
}
