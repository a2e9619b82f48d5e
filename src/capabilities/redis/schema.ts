/**
 * The Redis part of verge.toml: named connections at app level, grants per component, and
 * triggers.
 *
 *   [redis.cache]
 *   url = "redis://:{{ redis_password }}@cache.internal:6379/0"   # the guest never sees it
 *   max_connections = 16                                          # optional: the pool's size
 *
 *   [component.api]
 *   redis = ["cache"]                                             # opened by name
 *   allowed_outbound_hosts = ["redis://10.0.0.7:6379"]            # or by address (Spin style)
 *
 *   [[trigger.redis]]
 *   channel = "events"
 *   component = "listener"
 *   connection = "cache"       # optional when the app has one [redis.NAME]
 */
import { tomlKey, type Fields, type ManifestProblems } from '../../manifest/fields.js';
import { readRedisUrl } from '../../backends/redis/index.js';
import { REDIS_LIMITS } from './limits.js';

export interface RedisConnectionDecl {
  readonly name: string;
  /** As written: `{{ variable }}` references are filled in when a version is prepared. */
  readonly url: string;
  /** The variables the URL refers to. */
  readonly variables: readonly string[];
  readonly maxConnections: number;
}

export interface RedisTriggerDecl {
  readonly channel: string;
  readonly component: string;
  /** A [redis.NAME] of the app. */
  readonly connection: string;
}

const CONNECTION_NAME = /^[a-z0-9]([a-z0-9_-]{0,62}[a-z0-9])?$/;

export function readRedisConnections(root: Fields, problems: ManifestProblems): Map<string, RedisConnectionDecl> {
  const out = new Map<string, RedisConnectionDecl>();
  for (const [name, t] of root.tables('redis')) {
    if (!CONNECTION_NAME.test(name)) problems.add(t.path, 'the connection name is not valid: expected lowercase letters, digits, "-" and "_"');
    const { url, variables } = readRedisUrl(t, problems);
    const maxConnections = t.integer('max_connections', { min: 1, max: 1024, unit: 'connections' }) ?? REDIS_LIMITS.poolSize;
    t.done();
    out.set(name, Object.freeze({ name, url: url ?? '', variables: Object.freeze(variables), maxConnections }));
  }
  return out;
}

/** `redis = [...]` on a component: every name must be a [redis.NAME] of the app. */
export function readRedisGrants(c: Fields, connections: ReadonlyMap<string, RedisConnectionDecl>): string[] {
  return c.grantList('redis', connections, {
    expected: 'the name of a [redis.NAME] connection',
    missing: (name) => `no connection ${JSON.stringify(name)}: declare [redis.${tomlKey(name)}] with its url`,
  });
}

/**
 * `[[trigger.redis]]` entries. The `trigger` table is read here whole: a trigger of another kind
 * is an unknown key until a capability reads it.
 */
export function readRedisTriggers(root: Fields, connections: ReadonlyMap<string, RedisConnectionDecl>, problems: ManifestProblems): RedisTriggerDecl[] {
  const triggers = root.table('trigger');
  if (!triggers) return [];
  const out: RedisTriggerDecl[] = [];
  const seen = new Set<string>();
  for (const t of triggers.array('redis')) {
    const channel = t.string('channel', { required: true, expected: 'the name of a Redis pub/sub channel' });
    const component = t.string('component', { required: true, expected: 'the name of a [component.NAME] table' });
    let connection = t.string('connection', { expected: 'the name of a [redis.NAME] connection' });
    t.done();
    if (connection === undefined) {
      if (connections.size === 1) connection = [...connections.keys()][0]!;
      else {
        problems.add(t.path, connections.size === 0 ? 'a Redis trigger needs a connection: declare [redis.NAME] with its url' : `is missing connection: the app has several [redis.NAME] tables (${[...connections.keys()].join(', ')}), name one`);
        continue;
      }
    } else if (!connections.has(connection)) {
      problems.add(t.keyPath('connection'), `no connection ${JSON.stringify(connection)}: declare [redis.${tomlKey(connection)}] with its url`);
      continue;
    }
    if (channel === undefined || component === undefined) continue;
    const key = JSON.stringify([connection, channel, component]);
    if (seen.has(key)) {
      problems.add(t.path, `component ${component} is already triggered by channel ${JSON.stringify(channel)} on ${connection}: each message would run it twice`);
      continue;
    }
    seen.add(key);
    out.push(Object.freeze({ channel, component, connection }));
  }
  triggers.done();
  return out;
}
