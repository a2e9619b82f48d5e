/**
 * Variable values, resolved once at start: the environment (`VERGE_VAR_NAME`), then an optional
 * dotenv file holding the same names, then the manifest default. A required variable with no
 * value stops the node with its name (never its value).
 */
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { VergeError } from '../../errors.js';
import type { VariableDecl } from './schema.js';

export interface ResolvedVariable {
  name: string;
  value: string | undefined;
  secret: boolean;
}

export function envName(variable: string): string {
  return `VERGE_VAR_${variable.toUpperCase()}`;
}

export function readDotenv(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new VergeError('VARIABLE_MISSING', `${file}: cannot read the env file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return parseEnv(text) as Record<string, string>;
}

export function resolveVariables(
  decls: ReadonlyMap<string, VariableDecl>,
  sources: { env: NodeJS.ProcessEnv; dotenv?: Record<string, string> },
): Map<string, ResolvedVariable> {
  const out = new Map<string, ResolvedVariable>();
  const missing: string[] = [];
  for (const d of decls.values()) {
    const key = envName(d.name);
    const value = sources.env[key] ?? sources.dotenv?.[key] ?? d.default;
    if (value === undefined && d.required) missing.push(`${d.name} (set ${key})`);
    out.set(d.name, { name: d.name, value, secret: d.secret });
  }
  if (missing.length > 0) {
    throw new VergeError('VARIABLE_MISSING', `required variables have no value: ${missing.join(', ')}`);
  }
  return out;
}
