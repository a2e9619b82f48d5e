/**
 * `{{ name }}` placeholders naming app variables: in a component's variable values (Spin's
 * component variables) and in a database URL (capabilities/postgres). Filled in on the main
 * thread when a version is prepared.
 */
import { VARIABLE_NAME } from './schema.js';

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;

/** The variables `text` names, or what is wrong with a placeholder (a phrase to follow "expected"). */
export function templateVariables(text: string): string[] | { expected: string } {
  const names: string[] = [];
  for (const m of text.matchAll(PLACEHOLDER)) {
    const name = m[1]!.trim();
    if (!VARIABLE_NAME.test(name)) return { expected: `{{ name }} placeholders naming a variable (lowercase letters, digits and "_"), not {{${m[1]!.slice(0, 40)}}}` };
    if (!names.includes(name)) names.push(name);
  }
  if (/\{\{|\}\}/.test(text.replace(PLACEHOLDER, ''))) return { expected: 'every "{{" closed by "}}" around one variable name' };
  return names;
}

/** `text` with each placeholder replaced by `value(name)`. */
export function fillTemplate(text: string, value: (name: string) => string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => value(name.trim()));
}
