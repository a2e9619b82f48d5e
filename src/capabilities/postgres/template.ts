/**
 * `{{ name }}` in a named database's `url`: the value of the app variable `name`, resolved on the
 * main thread when the version is prepared. The value is percent-encoded, so a password may hold
 * any character (`@`, `/`, `:`); it never reaches a log, an error or a guest.
 */
import { fillTemplate } from '../variables/template.js';

export { templateVariables } from '../variables/template.js';

/** `text` with each placeholder replaced by its variable's value, percent-encoded. */
export function renderTemplate(text: string, value: (name: string) => string): string {
  return fillTemplate(text, (name) => encodeURIComponent(value(name)));
}
