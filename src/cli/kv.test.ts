import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KvCliError, allKeys, keyLine, openLocalKv, valueOutput, valueToStore } from './kv.js';

function app(stores = ''): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-kv-cli-'));
  writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = "shop"\n[[route]]\npath = "/..."\ncomponent = "web"\n[component.web]\nsource = "web.wasm"\n${stores}`);
  return dir;
}

describe('openLocalKv', () => {
  test('writes the SQLite file verge up uses and reads it back, a page at a time', async () => {
    const dir = app();
    const kv = openLocalKv({ app: dir, dataDir: '.verge/data', store: 'default' });
    for (const k of ['a', 'b', 'c']) await kv.set(k, Buffer.from(k.toUpperCase()));
    assert.ok(existsSync(path.join(dir, '.verge/data/default.sqlite')));
    assert.deepEqual(await kv.list('', undefined, 2), { keys: ['a', 'b'], next: 'b' });
    assert.deepEqual(await kv.list('', 'b', 2), { keys: ['c'], next: null });
    const all: string[] = [];
    for await (const k of allKeys(kv, '', undefined, 1)) all.push(k);
    assert.deepEqual(all, ['a', 'b', 'c']);
    assert.equal(Buffer.from((await kv.get('b'))!).toString(), 'B');
    assert.equal(await kv.delete('b'), true);
    assert.equal(await kv.delete('b'), false);
    assert.equal(await kv.get('b'), undefined);
    kv.close();
  });

  test('reads a store nothing wrote to as empty without creating its file', async () => {
    const dir = app();
    const kv = openLocalKv({ app: dir, dataDir: '.verge/data', store: 'default' });
    assert.deepEqual(await kv.list('', undefined, 10), { keys: [], next: null });
    assert.equal(await kv.get('x'), undefined);
    kv.close();
    assert.equal(existsSync(path.join(dir, '.verge/data/default.sqlite')), false);
  });

  test('refuses a memory store, which lives only in a running node', () => {
    const dir = app('[key_value_stores.cache]\nbackend = "memory"\n');
    assert.throws(() => openLocalKv({ app: dir, dataDir: '.verge/data', store: 'cache' }), (err: Error) => err instanceof KvCliError && /memory store: it lives only inside a running node.*--from/.test(err.message));
  });

  test('names the stores the app has when the store is unknown', () => {
    const dir = app('[key_value_stores.cache]\nbackend = "memory"\n');
    assert.throws(() => openLocalKv({ app: dir, dataDir: '.verge/data', store: 'nope' }), /no key-value store named "nope"; its stores: default, cache/);
  });
});

describe('values', () => {
  test('binary on a terminal is a hex dump with a note; piped it is the bytes', () => {
    const bin = new Uint8Array([0, 1, 0xff]);
    const tty = valueOutput(bin, { json: false, hex: false, tty: true });
    assert.match(Buffer.from(tty.bytes).toString(), /^00000000  00 01 ff/);
    assert.match(tty.note!, /binary value, 3 bytes/);
    assert.deepEqual([...valueOutput(bin, { json: false, hex: false, tty: false }).bytes], [0, 1, 0xff]);
  });

  test('json pretty-prints, and refuses what is not JSON', () => {
    assert.equal(Buffer.from(valueOutput(Buffer.from('{"a":1}'), { json: true, hex: false, tty: false }).bytes).toString(), '{\n  "a": 1\n}\n');
    assert.throws(() => valueOutput(Buffer.from('nope'), { json: true, hex: false, tty: false }), /is not JSON/);
    assert.throws(() => valueToStore({ value: '{bad', file: undefined, json: true }), /is not JSON/);
  });

  test('a value comes from the argument or a file, not both', () => {
    assert.equal(Buffer.from(valueToStore({ value: 'hi', file: undefined, json: false })).toString(), 'hi');
    assert.throws(() => valueToStore({ value: 'hi', file: Buffer.from('x'), json: false }), /one of the two/);
  });

  test('a key with a newline is listed JSON-quoted so it stays one line', () => {
    assert.equal(keyLine('plain'), 'plain');
    assert.equal(keyLine('a\nb'), '"a\\nb"');
  });
});
