import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isVergeError } from '../../errors.js';
import { parsePgUrl } from '../postgres/url.js';
import { parseRedisAddress } from '../../backends/redis/address.js';
import type { ResolvedVariable } from './resolve.js';
import { expandTemplate, templateReferences } from './template.js';

const values = (entries: Record<string, string | undefined>): Map<string, ResolvedVariable> =>
  new Map(Object.entries(entries).map(([name, value]) => [name, { name, value, secret: true }]));

describe('{{ variable }} references in a connection url', () => {
  test('name the variables they use, once each', () => {
    assert.deepEqual(templateReferences('postgres://{{ user }}:{{db_password}}@db/{{ user }}'), ['user', 'db_password']);
  });

  test('a reference that is not a variable name, or a stray brace pair, is refused', () => {
    assert.match((templateReferences('postgres://u:{{ Bad-Name }}@db/x') as { expected: string }).expected, /to name a variable/);
    assert.match((templateReferences('postgres://u:{{ pw @db/x') as { expected: string }).expected, /closed by "\}\}"/);
  });

  test('values inside a URL are percent-encoded, so a password may hold @, / and :', () => {
    const pg = parsePgUrl(expandTemplate('postgres://app:{{ pw }}@db/x', values({ pw: 'a@b/c:d' }), 'databases.main.url'));
    assert.ok(typeof pg !== 'string');
    assert.equal(pg.password, 'a@b/c:d');
    const redis = parseRedisAddress(expandTemplate('rediss://:{{ pw }}@cache:6380', values({ pw: 'a@b/c:d' }), 'redis.cache.url'));
    assert.ok(typeof redis !== 'string');
    assert.equal(redis.password, 'a@b/c:d');
  });

  test('a reference that is the whole value takes it as it is: a whole URL kept in a variable', () => {
    assert.equal(expandTemplate('{{ redis_url }}', values({ redis_url: 'redis://127.0.0.1:6379' }), 'redis.cache.url'), 'redis://127.0.0.1:6379');
  });

  test('a variable without a value stops it with VARIABLE_MISSING naming every one to set, never a value', () => {
    assert.throws(
      () => expandTemplate('postgres://{{ user }}:{{ pw }}@{{ host }}/x', values({ user: 'app', pw: undefined, host: undefined }), 'verge.toml: databases.main.url'),
      (err: unknown) =>
        isVergeError(err) &&
        err.code === 'VARIABLE_MISSING' &&
        err.message === 'verge.toml: databases.main.url uses {{ pw }}, {{ host }}, which has no value (set VERGE_VAR_PW, VERGE_VAR_HOST)',
    );
  });
});
