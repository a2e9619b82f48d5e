/** `[variables]` at app level and `variables = [...]` grants per component. */
import { describe, isTable, tomlKey, type Fields, type ManifestProblems } from '../../manifest/fields.js';
import { templateReferences } from './template.js';

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

/**
 * A component's `variables`: a list of app variables it may read under their own names
 * (`variables = ["api_key"]`), or Spin's table of its own variables, each a template of app
 * variables (`[component.x.variables] api_url = "https://{{ host }}/v1"`).
 */
export function readVariableGrants(c: Fields, vars: ReadonlyMap<string, VariableDecl>, problems: ManifestProblems): { variables: string[]; variableTemplates: ReadonlyMap<string, string> | undefined } {
  const raw = c.value('variables');
  if (isTable(raw)) return readVariableTemplates(c.keyPath('variables'), raw, vars, problems);
  const granted = c.grantList('variables', vars, { expected: 'a variable name', missing: (name) => `no variable ${JSON.stringify(name)} is declared in [variables]` });
  return { variables: granted, variableTemplates: undefined };
}

function readVariableTemplates(at: string, raw: Record<string, unknown>, vars: ReadonlyMap<string, VariableDecl>, problems: ManifestProblems) {
  const templates = new Map<string, string>();
  for (const [name, text] of Object.entries(raw)) {
    const key = `${at}.${tomlKey(name)}`;
    if (!VARIABLE_NAME.test(name)) problems.add(key, 'the variable name is not valid: expected lowercase letters, digits and "_", starting with a letter');
    if (typeof text !== 'string') {
      problems.add(key, `expected a string, which may name app variables as {{ name }}, got ${describe(text)}`);
      continue;
    }
    const used = templateReferences(text);
    if (!Array.isArray(used)) problems.add(key, `expected ${used.expected}`);
    else for (const v of used) if (!vars.has(v)) problems.add(key, `{{ ${v} }}: no variable ${JSON.stringify(v)} is declared in [variables]`);
    templates.set(name, text);
  }
  return { variables: [...templates.keys()], variableTemplates: templates };
}
