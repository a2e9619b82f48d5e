/**
 * `environment` on a component, as in Spin: variables of the guest's process environment. A WAGI
 * guest reads them through WASI environ beside the CGI variables (which win on a clash: they
 * describe the request); a component through wasi:cli/environment. Values are configuration, not
 * secrets: use variables for those.
 */
import type { Capability } from '../capability.js';
import type { Fields, ManifestProblems } from '../../manifest/fields.js';
import { describe, isTable, tomlKey } from '../../manifest/fields.js';
import type { GuestScope } from '../../sandbox/scope.js';

/** A POSIX environment variable name. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The most variables a component may set, and the most bytes of names and values together. */
export const ENVIRONMENT_LIMITS = Object.freeze({ maxEntries: 256, maxBytes: 64 * 1024 });

function readEnvironment(c: Fields, problems: ManifestProblems): ReadonlyArray<readonly [string, string]> {
  const raw = c.value('environment');
  const at = c.keyPath('environment');
  if (raw === undefined) return Object.freeze([]);
  if (!isTable(raw)) {
    problems.add(at, `expected a table of NAME = "value", got ${describe(raw)}`);
    return Object.freeze([]);
  }
  const out: Array<readonly [string, string]> = [];
  let bytes = 0;
  for (const [name, value] of Object.entries(raw)) {
    const key = `${at}.${tomlKey(name)}`;
    if (!ENV_NAME.test(name)) problems.add(key, 'expected a variable name of letters, digits and "_", not starting with a digit');
    else if (typeof value !== 'string' || value.includes('\0')) problems.add(key, `expected a string without NUL characters, got ${describe(value)}`);
    else {
      out.push(Object.freeze([name, value] as const));
      bytes += Buffer.byteLength(name) + Buffer.byteLength(value) + 2;
    }
  }
  if (out.length > ENVIRONMENT_LIMITS.maxEntries) problems.add(at, `has ${out.length} variables: the limit is ${ENVIRONMENT_LIMITS.maxEntries}`);
  if (bytes > ENVIRONMENT_LIMITS.maxBytes) problems.add(at, `holds ${bytes} bytes of names and values: the limit is ${ENVIRONMENT_LIMITS.maxBytes}`);
  return Object.freeze(out);
}

function environmentComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  return {
    'wasi:cli/environment': {
      getEnvironment: () => (scope.frame.grants.environment ?? []).map(([k, v]) => [k, v]),
      getArguments: () => [],
      initialCwd: () => undefined,
    },
  };
}

export const environmentCapability: Capability = {
  name: 'environment',
  manifest: { readComponent: (c, _app, problems) => ({ environment: readEnvironment(c, problems) }) },
  provides: { vergeV1: [], wasi: ['wasi:cli/environment'] },
  prepare: () => ({ grants: (c) => (c.environment.length === 0 ? {} : { environment: c.environment.map(([k, v]) => [k, v] as [string, string]) }) }),
  bindings: { wasiP1: () => ({}), component: environmentComponentImports },
};
