import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../manifest/load.js';
import { manifestProblems } from '../../manifest/fixtures.js';
import { locateStore } from '../../capabilities/kv/locate.js';
import type { ReplicatedStoreOptions } from './index.js';

const FILE = '/srv/sensors/verge.toml';

function manifest(extra: string): string {
  return `[application]\nname = "sensors"\n\n[[route]]\npath = "/..."\ncomponent = "api"\n\n[component.api]\nsource = "api.wasm"\nkey_value_stores = ["stats"]\n\n${extra}\n`;
}

describe('[key_value_stores.NAME] backend = "replicated"', () => {
  test('reads the URL, stream, replicas, replica path, tombstone retention and timeout', () => {
    const app = parseManifest(manifest('[key_value_stores.stats]\nbackend = "replicated"\nurl = "nats://n1:4222,nats://n2:4222"\nstream = "sensor-stats"\nreplicas = 3\npath = "data/stats.db"\ntombstone_retention_s = 3600\ntimeout_ms = 900'), FILE);
    const o = app.keyValueStores.get('stats')!.options as unknown as ReplicatedStoreOptions;
    assert.deepEqual({ ...o }, { url: 'nats://n1:4222,nats://n2:4222', variables: [], stream: 'sensor-stats', replicas: 3, path: 'data/stats.db', tombstoneRetentionS: 3600, timeoutMs: 900 });
    const { location } = locateStore(app.keyValueStores.get('stats')!, app, '.verge/data', (text) => text);
    assert.equal(location.file, '/srv/sensors/data/stats.db');
    assert.equal(location.bucket, 'sensor-stats');
  });

  test('defaults: stream per app and store, one replica, seven days of tombstones, the replica in the data dir', () => {
    const app = parseManifest(manifest('[key_value_stores.stats]\nbackend = "replicated"\nurl = "nats://127.0.0.1:4222"'), FILE);
    const decl = app.keyValueStores.get('stats')!;
    const o = decl.options as unknown as ReplicatedStoreOptions;
    assert.equal(o.replicas, 1);
    assert.equal(o.tombstoneRetentionS, 7 * 24 * 3600);
    const { location } = locateStore(decl, app, '.verge/data', (text) => text);
    assert.equal(location.bucket, 'verge_sensors_REPL_stats');
    assert.equal(location.file, '/srv/sensors/.verge/data/stats.replica.sqlite');
  });

  test('a missing or foreign URL, a bad stream name and an out-of-range retention are refused naming the key', () => {
    const problems = (extra: string) => manifestProblems(manifest(`[key_value_stores.stats]\nbackend = "replicated"\n${extra}`), FILE);
    assert.match(problems(''), /key_value_stores\.stats\.url: is required/);
    assert.match(problems('url = "redis://x:6379"'), /key_value_stores\.stats\.url: expected a NATS URL/);
    assert.match(problems('url = "nats://x"\nstream = "a.b"'), /key_value_stores\.stats\.stream/);
    assert.match(problems('url = "nats://x"\ntombstone_retention_s = 0'), /key_value_stores\.stats\.tombstone_retention_s/);
    assert.match(problems('url = "nats://x"\nbucket = "b"'), /key_value_stores\.stats\.bucket: unknown key/);
  });
});
