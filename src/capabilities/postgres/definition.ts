/**
 * The PostgreSQL capability: `[databases.NAME]` and `databases = [...]` grants, postgres://
 * addresses under allowed_outbound_hosts, verge:v1 pg_*, spin:postgres/postgres@4.x.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { VergeError } from '../../errors.js';
import type { Capability, HostContext } from '../capability.js';
import type { AppConfig } from '../../manifest/config.js';
import { readDotenv, resolveVariables } from '../variables/resolve.js';
import { expandTemplate } from '../variables/template.js';
import { pgImports } from './bindings/wasi-p1.js';
import { pgComponentImports } from './bindings/component.js';
import { PG_LIMITS } from './limits.js';
import { PgPool, type PgPoolOptions } from './pool.js';
import { readDatabaseGrants, readDatabases, type PgDatabaseDecl } from './schema.js';
import { createPgService, type NamedDatabase } from './serve.js';
import { parsePgUrl } from './url.js';

export const postgresCapability: Capability = {
  name: 'postgres',
  manifest: {
    readApp: (root, problems) => ({ databases: readDatabases(root, problems) }),
    readComponent: (c, app) => ({ databases: Object.freeze(readDatabaseGrants(c, app.databases)) }),
  },
  provides: {
    vergeV1: ['pg_open', 'pg_query', 'pg_result', 'pg_execute', 'pg_begin', 'pg_commit', 'pg_rollback', 'pg_error', 'pg_close'],
    wasi: ['spin:postgres/postgres'],
  },
  inheritable: [{ key: 'databases', fields: ['databases'] }],
  prepare(app, ctx) {
    const onBreaker = (label: string) => (state: string, reason: string | undefined) =>
      ctx.logger.warn({ app: app.name, database: label, state, reason }, `database circuit breaker ${state}`);
    const named = new Map<string, NamedDatabase>();
    for (const decl of app.databases.values()) {
      const opts = namedPoolOptions(app, decl, ctx);
      const fingerprint = createHash('sha256').update(JSON.stringify([opts.address.key, opts.ca ?? null, decl.limits])).digest('hex').slice(0, 16);
      const pool = ctx.shared(`pg/db/${decl.name}/${fingerprint}`, () => new PgPool({ ...opts, onBreaker: onBreaker(opts.label) }), (p) => p.close());
      named.set(decl.name, { pool, limits: decl.limits });
    }
    const addresses = ctx.shared('pg/addresses', () => new Map<string, PgPool>(), async (pools) => void (await Promise.all([...pools.values()].map((p) => p.close()))));
    const serve = createPgService({
      named,
      components: new Map([...app.components.values()].map((c) => [c.name, { databases: c.databases, policy: c.outboundPolicy }])),
      urlPool(key, make) {
        let pool = addresses.get(key);
        if (pool) return pool;
        if (addresses.size >= PG_LIMITS.maxAddressesPerApp) return undefined;
        const opts = make();
        addresses.set(key, (pool = new PgPool({ ...opts, onBreaker: onBreaker(opts.label) })));
        return pool;
      },
    });
    return {
      // Absent when none: the worker refuses every name (an address needs allowed_outbound_hosts).
      grants: (c) => (c.databases.length > 0 ? { postgres: { databases: [...c.databases] } } : {}),
      hostCalls: {
        pg: async (call, request) => ({ ok: true, value: await serve(call.pg, call.component, request, call.deadlineAt) }),
      },
    };
  },
  bindings: { wasiP1: pgImports, component: pgComponentImports },
};

/** A named database's pool, its URL filled in from the variables. The URL never reaches a message: errors name the key. */
function namedPoolOptions(app: AppConfig, decl: PgDatabaseDecl, ctx: HostContext): Omit<PgPoolOptions, 'onBreaker'> {
  const key = `databases.${decl.name}`;
  const url =
    decl.variables.length === 0
      ? decl.url
      : expandTemplate(decl.url, resolveVariables(app.variables, { env: ctx.env, dotenv: ctx.envFile ? readDotenv(ctx.envFile) : undefined }), `${app.file}: ${key}.url`);
  const address = parsePgUrl(url);
  if (typeof address === 'string') {
    throw new VergeError('MANIFEST_INVALID', `${app.file}: ${key}.url: expected ${address}${decl.variables.length > 0 ? ' once its {{ }} placeholders are filled in' : ''}`);
  }
  let ca: string | undefined;
  if (decl.tlsCa !== undefined) {
    const file = path.resolve(app.dir, decl.tlsCa);
    try {
      ca = readFileSync(file, 'utf8');
    } catch (err) {
      throw new VergeError('MANIFEST_INVALID', `${app.file}: ${key}.tls_ca: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----')) throw new VergeError('MANIFEST_INVALID', `${app.file}: ${key}.tls_ca: expected a PEM file of certificates, got ${file} without "-----BEGIN CERTIFICATE-----"`);
  }
  return { address, label: `database "${decl.name}"`, limits: decl.limits, explicit: true, ca };
}
