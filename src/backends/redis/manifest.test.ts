import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../manifest/load.js';
import { manifestProblems } from '../../manifest/fixtures.js';
import type { RedisStoreOptions } from './index.js';

const FILE = '/srv/shop/verge.toml';

function manifest(extra: string): string {
  return `[application]\nname = "shop"\n\n[[route]]\npath = "/..."\ncomponent = "api"\n\n[component.api]\nsource = "api.wasm"\nkey_value_stores = ["cache"]\n\n${extra}\n`;
}

const problems = (text: string): string => manifestProblems(text, FILE);

describe('[key_value_stores.NAME] backend = "redis"', () => {
  test('reads the URL, the prefix, the timeout and the pool size', () => {
    const app = parseManifest(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://cache.internal:6379/2"\nprefix = "shop:"\ntimeout_ms = 800\nmax_connections = 4'), FILE);
    const store = app.keyValueStores.get('cache')!;
    assert.equal(store.backend, 'redis');
    const o = store.options as unknown as RedisStoreOptions;
    assert.deepEqual({ ...o }, { url: 'redis://cache.internal:6379/2', variables: [], prefix: 'shop:', timeoutMs: 800, maxConnections: 4 });
  });

  test('defaults: no prefix, 5000 ms a call, 16 connections', () => {
    const o = parseManifest(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "rediss://cache:6380"'), FILE).keyValueStores.get('cache')!.options as unknown as RedisStoreOptions;
    assert.equal(o.prefix, '');
    assert.equal(o.timeoutMs, 5000);
    assert.equal(o.maxConnections, 16);
  });

  test('a store without a URL, or with one that is not a Redis URL, is refused naming the key', () => {
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"')), /key_value_stores\.cache\.url: is required: expected a Redis URL/);
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "http://cache:6379"')), /key_value_stores\.cache\.url: expected a Redis URL .*the scheme must be redis or rediss/);
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://cache:6379/x"')), /database number/);
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://cache:99999"')), /port from 1 to 65535/);
  });

  test('a password in the URL is never repeated in the problem', () => {
    const msg = problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://:hunter2-secret@cache:6379/db"'));
    assert.match(msg, /key_value_stores\.cache\.url/);
    assert.doesNotMatch(msg, /hunter2/);
  });

  test('{{ variable }} in the URL must name a declared variable', () => {
    const ok = parseManifest(manifest('[variables]\nredis_password = { required = true, secret = true }\n\n[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://:{{ redis_password }}@cache:6379"'), FILE);
    assert.deepEqual((ok.keyValueStores.get('cache')!.options as unknown as RedisStoreOptions).variables, ['redis_password']);
    const msg = problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://:{{ nope }}@cache:6379"'));
    assert.match(msg, /key_value_stores\.cache\.url: "\{\{ nope \}\}" names no variable: declare it in \[variables\]/);
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://:{{ Bad-Name }}@cache"')), /to name a variable/);
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "redis"\nurl = "redis://:{{ open@cache"')), /closed by "\}\}"/);
  });

  test('options of another backend are unknown keys', () => {
    assert.match(problems(manifest('[key_value_stores.cache]\nbackend = "memory"\nurl = "redis://cache"')), /key_value_stores\.cache\.url: unknown key/);
  });
});
