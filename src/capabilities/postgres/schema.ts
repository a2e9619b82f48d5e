/**
 * The PostgreSQL part of verge.toml: `[databases.NAME]` at app level (a URL, possibly with
 * `{{ variable }}` placeholders for secrets, and per-database limits) and `databases = [...]`
 * grants per component. A component may also name postgres:// addresses itself, when
 * `allowed_outbound_hosts` allows them (no grant here needed).
 */
import { isTable, tomlKey, type Fields, type ManifestProblems } from '../../manifest/fields.js';
import { DATABASE_LIMIT_RANGES, DEFAULT_DATABASE_LIMITS, type PgDatabaseLimits } from './limits.js';
import { checkTemplateVariables, templateReferences } from '../variables/template.js';
import { parsePgUrl } from './url.js';

export interface PgDatabaseDecl {
  name: string;
  /** The URL as written: placeholders are filled in when a version is prepared. */
  url: string;
  /** The variables the URL names. */
  variables: readonly string[];
  limits: PgDatabaseLimits;
  /** A PEM file of CA certificates to trust for its TLS besides Node's, relative to the manifest. */
  tlsCa: string | undefined;
}

const DATABASE_NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;
const URL_EXPECTED = 'a postgres:// URL (postgres://user:{{ password_variable }}@host:5432/database)';

export function readDatabases(root: Fields, problems: ManifestProblems): Map<string, PgDatabaseDecl> {
  const out = new Map<string, PgDatabaseDecl>();
  // The names only, to check placeholders: the variables capability reads the table itself.
  const declared = isTable(root.raw.variables) ? new Set(Object.keys(root.raw.variables)) : new Set<string>();
  for (const [name, t] of root.tables('databases')) {
    if (!DATABASE_NAME.test(name)) problems.add(t.path, 'the database name is not valid: expected lowercase letters, digits, "-" and "_"');
    const url = t.string('url', { required: true, expected: URL_EXPECTED });
    let variables: string[] = [];
    if (url !== undefined) {
      const used = templateReferences(url);
      if (!Array.isArray(used)) problems.add(t.keyPath('url'), `expected ${used.expected}`);
      else {
        variables = used;
        checkTemplateVariables(t.keyPath('url'), used, declared, problems);
        // With placeholders the URL is checked once they are filled in (the version is prepared).
        const parsed = used.length === 0 ? parsePgUrl(url) : undefined;
        if (typeof parsed === 'string') problems.add(t.keyPath('url'), `expected ${parsed}`);
      }
    }
    const limit = (key: keyof typeof DATABASE_LIMIT_RANGES) => {
      const [min, max, unit] = DATABASE_LIMIT_RANGES[key];
      return t.integer(key, { min, max, unit });
    };
    const limits: PgDatabaseLimits = Object.freeze({
      maxRows: limit('max_rows') ?? DEFAULT_DATABASE_LIMITS.maxRows,
      maxResultBytes: limit('max_result_bytes') ?? DEFAULT_DATABASE_LIMITS.maxResultBytes,
      statementTimeoutMs: limit('statement_timeout_ms') ?? DEFAULT_DATABASE_LIMITS.statementTimeoutMs,
      poolSize: limit('pool_size') ?? DEFAULT_DATABASE_LIMITS.poolSize,
      idleTimeoutMs: limit('idle_timeout_ms') ?? DEFAULT_DATABASE_LIMITS.idleTimeoutMs,
      connectTimeoutMs: limit('connect_timeout_ms') ?? DEFAULT_DATABASE_LIMITS.connectTimeoutMs,
    });
    const ca = t.string('tls_ca', { expected: 'the path of a PEM file of CA certificates, relative to the manifest' });
    t.done();
    if (url === undefined) continue;
    out.set(name, Object.freeze({ name, url, variables: Object.freeze(variables), limits, tlsCa: ca }));
  }
  return out;
}

/** `databases = [...]` on a component: every name must be a `[databases.NAME]` of the app. */
export function readDatabaseGrants(c: Fields, databases: ReadonlyMap<string, PgDatabaseDecl>): string[] {
  return c.grantList('databases', databases, {
    expected: 'a database name',
    missing: (name) => `no database ${JSON.stringify(name)}: declare [databases.${tomlKey(name)}] with its url`,
  });
}
