/**
 * `{{ name }}` in a named database's `url`: the value of the app variable `name`, resolved on the
 * main thread when the version is prepared. The value is percent-encoded, so a password may hold
 * any character (`@`, `/`, `:`); it never reaches a log, an error or a guest.
 */
import { VARIABLE_NAME } from '../variables/schema.js';

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

/** `text` with each placeholder replaced by its variable's value, percent-encoded. */
export function renderTemplate(text: string, value: (name: string) => string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => encodeURIComponent(value(name.trim())));
}
