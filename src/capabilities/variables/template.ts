/**
 * `{{ name }}` in a connection URL (`[databases.NAME]`, `[redis.NAME]`, a Redis key-value store)
 * is the value of the app's variable `name`, as in Spin:
 * `url = "postgres://app:{{ db_password }}@db:5432/orders"`. The names are checked against
 * `[variables]` when the manifest loads; the values are filled in on the main thread when a
 * version is prepared. What a template expands to is never written to a log, an error or a
 * guest: messages name the variables, not their values.
 */
import { VergeError } from '../../errors.js';
import type { ManifestProblems } from '../../manifest/fields.js';
import { VARIABLE_NAME } from './schema.js';
import { envName, type ResolvedVariable } from './resolve.js';

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE = /^\{\{\s*[^{}]*?\s*\}\}$/;

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

/**
 * `text` with each `{{ name }}` replaced by the variable's value. A reference that is the whole
 * text takes the value as it is (a whole URL kept in a secret); one inside a URL takes it
 * percent-encoded, so a password may hold `@`, `/` or `:`. `where` (the file and the manifest
 * key) starts the messages: VARIABLE_MISSING names every variable without a value.
 */
export function expandTemplate(text: string, values: ReadonlyMap<string, ResolvedVariable>, where: string): string {
  const names = templateReferences(text);
  if (!Array.isArray(names)) throw new VergeError('MANIFEST_INVALID', `${where}: expected ${names.expected}`);
  const undeclared = names.filter((name) => !values.has(name));
  if (undeclared.length > 0) throw new VergeError('MANIFEST_INVALID', `${where}: ${undeclared.map((v) => `"{{ ${v} }}"`).join(', ')} names no variable declared in [variables]`);
  const missing = names.filter((name) => values.get(name)!.value === undefined);
  if (missing.length > 0) {
    throw new VergeError('VARIABLE_MISSING', `${where} uses ${missing.map((v) => `{{ ${v} }}`).join(', ')}, which has no value (set ${missing.map(envName).join(', ')})`);
  }
  const whole = WHOLE.test(text);
  return text.replace(REFERENCE, (_all, name: string) => {
    const value = values.get(name)!.value!;
    return whole ? value : encodeURIComponent(value);
  });
}

/** Each variable a template at `keyPath` refers to must be declared in [variables]. */
export function checkTemplateVariables(keyPath: string, names: readonly string[], declared: { has(name: string): boolean }, problems: ManifestProblems): void {
  for (const name of names) {
    if (!declared.has(name)) problems.add(keyPath, `"{{ ${name} }}" names no variable: declare it in [variables] (for a password: ${name} = { required = true, secret = true })`);
  }
}

/** `text` with each `{{ name }}` replaced by `value(name)` as it is (Spin's component variables: text, not a URL). */
export function fillTemplate(text: string, value: (name: string) => string): string {
  return text.replace(REFERENCE, (_all, name: string) => value(name));
}
