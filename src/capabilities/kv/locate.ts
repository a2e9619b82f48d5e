/**
 * Where an app's store lives: one rule for the node (definition.ts) and for `verge kv` opening
 * the same files beside it (src/cli/kv.ts), so the two never disagree about the data.
 */
import { BACKENDS, type Backend, type StoreLocation } from '../../backends/registry.js';
import { VergeError } from '../../errors.js';
import type { AppConfig } from '../../manifest/config.js';
import { renderTemplate, templateVariables } from '../postgres/template.js';
import { envName, readDotenv, resolveVariables } from '../variables/resolve.js';
import type { KvStoreDecl } from './schema.js';

export type ExpandOption = (text: string, key: string) => string;

export function locateStore(decl: KvStoreDecl, app: Pick<AppConfig, 'name' | 'dir'>, dataDir: string, expand: ExpandOption): { backend: Backend; location: StoreLocation } {
  const backend = BACKENDS[decl.backend];
  return { backend, location: backend.locate({ app: app.name, appDir: app.dir, dataDir, name: decl.name, options: decl.options, expand }) };
}

/**
 * Fills a store option's `{{ variable }}` references (a NATS URL's password) from the app's
 * variables, resolved only when an option has any. Values are percent-encoded and never shown:
 * a missing one is VARIABLE_MISSING naming the variable and its environment name.
 */
export function storeOptionExpander(app: Pick<AppConfig, 'file' | 'variables'>, env: NodeJS.ProcessEnv, envFile: string | undefined): (store: string) => ExpandOption {
  let values: ReturnType<typeof resolveVariables> | undefined;
  return (store) => (text, key) => {
    const names = templateVariables(text);
    const where = `${app.file}: key_value_stores.${store}.${key}`;
    if (!Array.isArray(names)) throw new VergeError('MANIFEST_INVALID', `${where}: expected ${names.expected}`);
    if (names.length === 0) return text;
    values ??= resolveVariables(app.variables, { env, dotenv: envFile ? readDotenv(envFile) : undefined });
    const missing = names.filter((v) => values!.get(v)?.value === undefined);
    if (missing.length > 0) throw new VergeError('VARIABLE_MISSING', `${where} uses ${missing.map((v) => `{{ ${v} }}`).join(', ')}, which has no value (set ${missing.map(envName).join(', ')})`);
    return renderTemplate(text, (v) => values!.get(v)!.value!);
  };
}
