/**
 * Where an app's store lives: one rule for the node (definition.ts) and for `verge kv` opening
 * the same files beside it (src/cli/kv.ts), so the two never disagree about the data.
 */
import { BACKENDS, type Backend, type StoreLocation } from '../../backends/registry.js';
import type { AppConfig } from '../../manifest/config.js';
import { expandTemplate, templateReferences } from '../variables/template.js';
import { readDotenv, resolveVariables } from '../variables/resolve.js';
import type { KvStoreDecl } from './schema.js';

export type ExpandOption = (text: string, key: string) => string;

export function locateStore(decl: KvStoreDecl, app: Pick<AppConfig, 'name' | 'dir'>, dataDir: string, expand: ExpandOption): { backend: Backend; location: StoreLocation } {
  const backend = BACKENDS[decl.backend];
  return { backend, location: backend.locate({ app: app.name, appDir: app.dir, dataDir, name: decl.name, options: decl.options, expand }) };
}

/**
 * Fills a store option's `{{ variable }}` references (a Redis or NATS URL's password) from the app's
 * variables, resolved only when an option has any (variables/template.ts: values inside a URL are
 * percent-encoded and never shown; a missing one is VARIABLE_MISSING naming its environment name).
 */
export function storeOptionExpander(app: Pick<AppConfig, 'file' | 'variables'>, env: NodeJS.ProcessEnv, envFile: string | undefined): (store: string) => ExpandOption {
  let values: ReturnType<typeof resolveVariables> | undefined;
  return (store) => (text, key) => {
    const where = `${app.file}: key_value_stores.${store}.${key}`;
    const names = templateReferences(text);
    // No reference, no variables resolved (a store without a secret needs none set).
    if (Array.isArray(names) && names.length === 0) return text;
    values ??= resolveVariables(app.variables, { env, dotenv: envFile ? readDotenv(envFile) : undefined });
    return expandTemplate(text, values, where);
  };
}
