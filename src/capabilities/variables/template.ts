/**
 * `{{ name }}` in a manifest string (a connection URL holding a password) is the value of the
 * app's variable `name`, as in Spin: `url = "redis://:{{ redis_password }}@cache:6379"`. The
 * names are checked against `[variables]` when the manifest loads; the values are filled in on
 * the main thread when a version is prepared. What a template expands to is never written to a
 * log or an error: messages name the variables, not their values.
 */
import { VergeError } from '../../errors.js';
import type { ManifestProblems } from '../../manifest/fields.js';
import { VARIABLE_NAME } from './schema.js';
import type { ResolvedVariable } from './resolve.js';

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** The variables `text` refers to, or a phrase saying what is wrong (to follow "expected "). */
export function templateReferences(text: string): string[] | { expected: string } {
  const names: string[] = [];
  for (const m of text.matchAll(REFERENCE)) {
    const name = m[1]!;
    if (!VARIABLE_NAME.test(name)) return { expected: `"{{ name }}" to name a variable (lowercase letters, digits and "_"), got "{{ ${name.slice(0, 40)} }}"` };
    if (!names.includes(name)) names.push(name);
  }
  const rest = text.replace(REFERENCE, '');
  if (rest.includes('{{') || rest.includes('}}')) return { expected: 'every "{{" to be closed by "}}" around a variable name' };
  return names;
}

/** `text` with each `{{ name }}` replaced by the variable's value; `where` names the manifest key in errors. */
export function expandTemplate(text: string, values: ReadonlyMap<string, ResolvedVariable>, where: string): string {
  return text.replace(REFERENCE, (_all, name: string) => {
    const v = values.get(name);
    if (v === undefined) throw new VergeError('MANIFEST_INVALID', `${where}: "{{ ${name} }}" names no variable declared in [variables]`);
    if (v.value === undefined) throw new VergeError('VARIABLE_MISSING', `${where}: variable ${name} has no value (set VERGE_VAR_${name.toUpperCase()})`);
    return v.value;
  });
}

/** Each variable a template at `keyPath` refers to must be declared in [variables]. */
export function checkTemplateVariables(keyPath: string, names: readonly string[], declared: ReadonlyMap<string, unknown>, problems: ManifestProblems): void {
  for (const name of names) {
    if (!declared.has(name)) problems.add(keyPath, `"{{ ${name} }}" names no variable: declare it in [variables] (for a password: ${name} = { required = true, secret = true })`);
  }
}
