import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../manifest/load.js';
import { manifestProblems } from '../../manifest/fixtures.js';
import { checkCommand } from './checks.js';
import { decodeArguments, encodeItems } from './encoding.js';
import { HostCallError } from '../abi.js';

const FILE = '/srv/shop/verge.toml';

function manifest(component: string, extra = ''): string {
  return `[application]\nname = "shop"\n\n[[route]]\npath = "/..."\ncomponent = "api"\n\n[component.api]\nsource = "api.wasm"\n${component}\n\n[component.listener]\nsource = "listener.wasm"\n\n${extra}\n`;
}

const problems = (text: string): string => manifestProblems(text, FILE);

const CACHE = '[redis.cache]\nurl = "redis://cache.internal:6379"';

describe('[redis.NAME], redis = [...] and [[trigger.redis]]', () => {
  test('a named connection is read with its pool size, and granted by name', () => {
    const app = parseManifest(manifest('redis = ["cache"]', `${CACHE}\nmax_connections = 4`), FILE);
    assert.deepEqual({ ...app.redis.get('cache') }, { name: 'cache', url: 'redis://cache.internal:6379', variables: [], maxConnections: 4 });
    assert.deepEqual(app.components.get('api')!.redis, ['cache']);
    assert.deepEqual(app.components.get('listener')!.redis, []);
  });

  test('a grant naming no [redis.NAME] is refused, saying how to declare it', () => {
    assert.match(problems(manifest('redis = ["nope"]', CACHE)), /component\.api\.redis\[0\]: no connection "nope": declare \[redis\.nope\] with its url/);
  });

  test('a connection URL that is not a Redis URL, or names an undeclared variable, is refused without repeating a password', () => {
    const bad = problems(manifest('', '[redis.cache]\nurl = "redis://:pw-123@cache/abc"'));
    assert.match(bad, /redis\.cache\.url: expected a Redis URL/);
    assert.doesNotMatch(bad, /pw-123/);
    assert.match(problems(manifest('', '[redis.cache]\nurl = "redis://:{{ pass }}@cache"')), /redis\.cache\.url: "\{\{ pass \}\}" names no variable/);
    assert.match(problems(manifest('', '[redis.cache]\nurl = "redis://cache"\npool = 3')), /redis\.cache\.pool: unknown key/);
  });

  test('a trigger takes the only connection by default, and must name one when there are several', () => {
    const app = parseManifest(manifest('', `${CACHE}\n\n[[trigger.redis]]\nchannel = "events"\ncomponent = "listener"`), FILE);
    assert.deepEqual(app.redisTriggers, [{ channel: 'events', component: 'listener', connection: 'cache' }]);
    const two = `${CACHE}\n\n[redis.other]\nurl = "redis://other"\n\n[[trigger.redis]]\nchannel = "events"\ncomponent = "listener"`;
    assert.match(problems(manifest('', two)), /trigger\.redis\[0\]: is missing connection: the app has several \[redis\.NAME\] tables \(cache, other\), name one/);
    assert.match(problems(manifest('', '[[trigger.redis]]\nchannel = "events"\ncomponent = "listener"')), /a Redis trigger needs a connection: declare \[redis\.NAME\]/);
  });

  test('a trigger naming a missing component, the same component twice on a channel, or an unknown key is refused', () => {
    assert.match(problems(manifest('', `${CACHE}\n\n[[trigger.redis]]\nchannel = "events"\ncomponent = "ghost"`)), /trigger\.redis\[0\]\.component: no \[component\.ghost\] is defined/);
    const twice = `${CACHE}\n\n[[trigger.redis]]\nchannel = "e"\ncomponent = "listener"\n\n[[trigger.redis]]\nchannel = "e"\ncomponent = "listener"`;
    assert.match(problems(manifest('', twice)), /trigger\.redis\[1\]: component listener is already triggered by channel "e" on cache/);
    assert.match(problems(manifest('', `${CACHE}\n\n[[trigger.redis]]\nchannel = "e"\ncomponent = "listener"\naddress = "x"`)), /trigger\.redis\[0\]\.address: unknown key/);
    assert.match(problems(manifest('', `${CACHE}\n\n[[trigger.cron]]\nschedule = "* * * * *"`)), /trigger\.cron: unknown key/);
  });
});

describe('Redis guest input', () => {
  test('a command name is upper-cased and must be on the allow-list; a refusal says why', () => {
    assert.equal(new TextDecoder().decode(checkCommand('get', [], 'api')[0]), 'GET');
    const refused = (name: string) => {
      try {
        checkCommand(name, [], 'api');
      } catch (e) {
        assert.ok(e instanceof HostCallError);
        return `${e.status} ${e.message}`;
      }
      assert.fail(`${name} was allowed`);
    };
    assert.match(refused('flushall'), /^ACCESS_DENIED api: Redis command FLUSHALL is not allowed: it wipes every database/);
    assert.match(refused('CLIENT'), /^ACCESS_DENIED .*not on the allow-list of data commands/);
    for (const name of ['CONFIG', 'KEYS', 'SCRIPT', 'SHUTDOWN', 'SELECT', 'MULTI', 'SUBSCRIBE', 'EVAL', 'FLUSHDB', 'BLPOP', 'MONITOR', 'DEBUG']) assert.match(refused(name), /^ACCESS_DENIED/);
    assert.match(refused('GET KEY'), /^INVALID_ARGUMENT .*is not a Redis command name/);
  });

  test('argument records are decoded exactly, and a record running past the block is refused', () => {
    const block = Uint8Array.of(1, 0, 0, 0, 0x61, 0, 0, 0, 0, 2, 0, 0, 0, 0xff, 0x00);
    assert.deepEqual(decodeArguments(block, 'api').map((a) => [...a]), [[0x61], [], [0xff, 0]]);
    assert.throws(() => decodeArguments(Uint8Array.of(5, 0, 0, 0, 1), 'api'), /argument 0 says 5 bytes, but only 1 are left/);
    assert.throws(() => decodeArguments(Uint8Array.of(1, 0), 'api'), /ends inside a record's length/);
  });

  test('reply items encode as tag and value: nil, status, integer, bulk', () => {
    const bytes = encodeItems([{ tag: 'nil' }, { tag: 'status', val: 'OK' }, { tag: 'int64', val: -2n }, { tag: 'binary', val: Uint8Array.of(7) }]);
    assert.deepEqual([...bytes], [0, 1, 2, 0, 0, 0, 0x4f, 0x4b, 2, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3, 1, 0, 0, 0, 7]);
  });
});
