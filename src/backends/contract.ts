/**
 * The contract every KvStore backend runs (memory, SQLite; later Redis, NATS), so they cannot
 * drift apart: a backend's own test file calls storeContract and adds only what is specific to
 * it (files, connections, locks). Each test gets a fresh, empty store from `open`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { INT64_MAX, INT64_MIN, StoreError, type KvStore, type StoreErrorReason } from './store.js';

export type OpenStore = () => Promise<KvStore>;
/** Runs after each test, once its store is closed (remove its files, drop its keyspace). */
export type TeardownStore = (store: KvStore) => Promise<void> | void;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (value: string): Uint8Array => encoder.encode(value);

function assertBytes(actual: Uint8Array | undefined, expected: Uint8Array | string, what = 'value'): void {
  const want = typeof expected === 'string' ? bytes(expected) : expected;
  assert.ok(actual instanceof Uint8Array, `${what}: expected bytes, got ${String(actual)}`);
  assert.deepEqual(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength), Buffer.from(want.buffer, want.byteOffset, want.byteLength), what);
}

async function assertStoreError(promise: Promise<unknown>, reason: StoreErrorReason): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof StoreError, `expected a StoreError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    return true;
  });
}

/** Increments by read-then-compare-and-swap, retrying on conflict, the way a guest without kv_increment would. */
async function casIncrement(store: KvStore, key: string): Promise<void> {
  for (;;) {
    const current = await store.get(key);
    const next = (current === undefined ? 0 : Number(decoder.decode(current))) + 1;
    if (await store.compareAndSwap(key, current ?? null, bytes(String(next)))) return;
  }
}

export function storeContract(name: string, open: OpenStore, teardown?: TeardownStore): void {
  /** Registers a test that gets a fresh store and always closes and tears it down. */
  function storeTest(title: string, body: (store: KvStore) => Promise<void>): void {
    test(title, async () => {
      const store = await open();
      try {
        await body(store);
      } finally {
        await store.close();
        await teardown?.(store);
      }
    });
  }

  describe(`${name} store contract`, () => {
    describe('get, set, delete and exists', () => {
      storeTest('get returns undefined for a key that was never set', async (store) => {
        assert.equal(await store.get('missing'), undefined);
        assert.equal(await store.exists('missing'), false);
      });

      storeTest('a value set is read back byte for byte', async (store) => {
        await store.set('greeting', bytes('hello'));
        assertBytes(await store.get('greeting'), 'hello');
        assert.equal(await store.exists('greeting'), true);
      });

      storeTest('setting a key again overwrites its value, longer or shorter', async (store) => {
        await store.set('k', bytes('first'));
        await store.set('k', bytes('a much longer second value'));
        assertBytes(await store.get('k'), 'a much longer second value');
        await store.set('k', bytes('3'));
        assertBytes(await store.get('k'), '3');
      });

      storeTest('an empty value is stored, exists, and reads back empty rather than missing', async (store) => {
        await store.set('empty', new Uint8Array(0));
        assert.equal(await store.exists('empty'), true);
        assertBytes(await store.get('empty'), new Uint8Array(0));
      });

      storeTest('every byte value 0..255 round-trips, including NUL and invalid UTF-8', async (store) => {
        const all = Uint8Array.from({ length: 512 }, (_, i) => (i * 7) % 256);
        await store.set('binary', all);
        assertBytes(await store.get('binary'), all);
      });

      storeTest('a 1 MiB value (the ABI limit) round-trips', async (store) => {
        const big = Uint8Array.from({ length: 1024 * 1024 }, (_, i) => (i * 31 + 7) % 251);
        await store.set('big', big);
        assertBytes(await store.get('big'), big);
      });

      storeTest('only the bytes of a view are stored, not the rest of its buffer', async (store) => {
        const view = Uint8Array.of(9, 9, 1, 2, 3, 9).subarray(2, 5);
        await store.set('view', view);
        assertBytes(await store.get('view'), Uint8Array.of(1, 2, 3));
      });

      storeTest('callers cannot change a stored value through the array they set or got', async (store) => {
        const input = bytes('abc');
        await store.set('k', input);
        input[0] = 0x7a;
        const output = await store.get('k');
        assertBytes(output, 'abc');
        output![1] = 0x7a;
        assertBytes(await store.get('k'), 'abc');
        // Buffer.prototype.slice returns a view, so a backend copying with slice() fails here.
        const buffer = Buffer.from('xyz');
        await store.set('b', buffer);
        assert.equal(await store.compareAndSwap('b', bytes('xyz'), buffer), true);
        buffer[0] = 0x41;
        assertBytes(await store.get('b'), 'xyz');
      });

      storeTest('keys are exact: non-ASCII keys, NUL inside a key and keys differing only in case are distinct', async (store) => {
        const keys = ['café', 'cafe', 'Café', '😀/x', 'a\u0000b', 'a', 'k'.repeat(512)];
        for (const [i, key] of keys.entries()) await store.set(key, bytes(String(i)));
        for (const [i, key] of keys.entries()) assertBytes(await store.get(key), String(i), key);
        assert.equal(await store.get('a\u0000'), undefined);
      });

      storeTest('delete reports whether the key existed and removes it', async (store) => {
        await store.set('k', bytes('v'));
        assert.equal(await store.delete('k'), true);
        assert.equal(await store.exists('k'), false);
        assert.equal(await store.get('k'), undefined);
        assert.equal(await store.delete('k'), false);
        assert.equal(await store.delete('never'), false);
      });

      storeTest('a deleted key can be set again', async (store) => {
        await store.set('k', bytes('one'));
        await store.delete('k');
        await store.set('k', bytes('two'));
        assertBytes(await store.get('k'), 'two');
      });
    });

    describe('listKeys', () => {
      async function fill(store: KvStore, keys: string[]): Promise<void> {
        for (const key of keys) await store.set(key, bytes('v'));
      }

      storeTest('lists only the keys with the prefix, in order', async (store) => {
        await fill(store, ['user/2', 'a', 'user/1', 'user', 'users/1', 'user/10', 'zzz']);
        assert.deepEqual(await store.listKeys('user/', undefined, 100), ['user/1', 'user/10', 'user/2']);
      });

      storeTest('an empty prefix lists every key', async (store) => {
        await fill(store, ['b', 'a', 'c']);
        assert.deepEqual(await store.listKeys('', undefined, 100), ['a', 'b', 'c']);
      });

      storeTest('a prefix that is itself a key includes that key', async (store) => {
        await fill(store, ['user', 'user1', 'use']);
        assert.deepEqual(await store.listKeys('user', undefined, 100), ['user', 'user1']);
      });

      storeTest('an empty store or an unmatched prefix lists nothing', async (store) => {
        assert.deepEqual(await store.listKeys('', undefined, 100), []);
        await fill(store, ['a']);
        assert.deepEqual(await store.listKeys('b', undefined, 100), []);
      });

      storeTest('keys are ordered by UTF-8 bytes, not by JS UTF-16 string order', async (store) => {
        // U+FF5A (EF BD 9A) sorts after 'é' (C3 A9) and before '😀' (F0 9F 98 80) in UTF-8, but
        // after '😀' (D83D DE00) in UTF-16: the one case where the two orders disagree.
        await fill(store, ['😀', 'ｚ', 'z', 'é', 'a', 'e', '\u007f', '\u0080']);
        const expected = ['a', 'e', 'z', '\u007f', '\u0080', 'é', 'ｚ', '😀'];
        assert.deepEqual(await store.listKeys('', undefined, 100), expected);
        assert.notDeepEqual([...expected].sort(), expected, 'the keys must tell the two orders apart');
      });

      storeTest('a non-ASCII prefix matches by bytes, including one ending in a continuation byte 0xBF', async (store) => {
        // '¿' is C2 BF and 'À' is C3 80, so the range ends inside a two-byte sequence. U+10FFFF is
        // the largest character that can follow a prefix: a backend bounding the range with
        // `< prefix + '\u{10FFFF}'` would drop that key.
        await fill(store, ['¿', '¿a', '¿\u{10FFFF}', 'À', '¾', 'é1', 'éz', 'ê']);
        assert.deepEqual(await store.listKeys('¿', undefined, 100), ['¿', '¿a', '¿\u{10FFFF}']);
        assert.deepEqual(await store.listKeys('é', undefined, 100), ['é1', 'éz']);
      });

      storeTest('at most limit keys are returned, and a limit of 0 returns none', async (store) => {
        await fill(store, ['a', 'b', 'c', 'd']);
        assert.deepEqual(await store.listKeys('', undefined, 2), ['a', 'b']);
        assert.deepEqual(await store.listKeys('', undefined, 0), []);
      });

      storeTest('pages continue strictly after the last key returned until none are left', async (store) => {
        const keys = Array.from({ length: 25 }, (_, i) => `item/${String(i).padStart(2, '0')}`);
        await fill(store, [...keys].reverse());
        await fill(store, ['item', 'itemz', 'other/1']);
        const seen: string[] = [];
        let after: string | undefined;
        const sizes: number[] = [];
        for (;;) {
          const page = await store.listKeys('item/', after, 10);
          if (page.length === 0) break;
          sizes.push(page.length);
          seen.push(...page);
          after = page.at(-1);
        }
        assert.deepEqual(sizes, [10, 10, 5]);
        assert.deepEqual(seen, keys);
      });

      storeTest('after need not be a key, and may sort before or beyond the prefix', async (store) => {
        await fill(store, ['p/a', 'p/c', 'p/e', 'q']);
        assert.deepEqual(await store.listKeys('p/', 'p/b', 100), ['p/c', 'p/e']);
        assert.deepEqual(await store.listKeys('p/', 'a', 100), ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await store.listKeys('p/', 'p', 100), ['p/a', 'p/c', 'p/e']);
        assert.deepEqual(await store.listKeys('p/', 'p/e', 100), []);
        assert.deepEqual(await store.listKeys('p/', 'r', 100), []);
      });

      storeTest('after compares by UTF-8 bytes too', async (store) => {
        await fill(store, ['😀', 'ｚ', 'é']);
        assert.deepEqual(await store.listKeys('', 'ｚ', 100), ['😀']);
        assert.deepEqual(await store.listKeys('', 'é', 100), ['ｚ', '😀']);
      });

      storeTest('deleted keys are not listed', async (store) => {
        await fill(store, ['a', 'b', 'c']);
        await store.delete('b');
        assert.deepEqual(await store.listKeys('', undefined, 100), ['a', 'c']);
      });
    });

    describe('increment', () => {
      storeTest('a missing key counts as 0 and the result is stored as decimal text', async (store) => {
        assert.equal(await store.increment('n', 5n), 5n);
        assertBytes(await store.get('n'), '5');
        assert.equal(await store.increment('n', 37n), 42n);
        assertBytes(await store.get('n'), '42');
      });

      storeTest('a negative delta decrements below zero', async (store) => {
        assert.equal(await store.increment('n', -3n), -3n);
        assertBytes(await store.get('n'), '-3');
        assert.equal(await store.increment('n', 3n), 0n);
        assertBytes(await store.get('n'), '0');
      });

      storeTest('a delta of 0 on a missing key creates it as "0"', async (store) => {
        assert.equal(await store.increment('n', 0n), 0n);
        assertBytes(await store.get('n'), '0');
      });

      storeTest('a decimal value written with set is incremented', async (store) => {
        await store.set('n', bytes('41'));
        assert.equal(await store.increment('n', 1n), 42n);
        await store.set('m', bytes('-9223372036854775807'));
        assert.equal(await store.increment('m', -1n), INT64_MIN);
        assertBytes(await store.get('m'), '-9223372036854775808');
      });

      storeTest('a value that is not a canonical decimal integer fails with NOT_A_NUMBER and is left unchanged', async (store) => {
        const notNumbers = ['abc', '', ' 1', '1 ', '1.5', '+1', '01', '-0', '-', '1e3', '0x10', '١', '9223372036854775808', '-9223372036854775809', '99999999999999999999999'];
        for (const value of notNumbers) {
          await store.set('n', bytes(value));
          await assertStoreError(store.increment('n', 1n), 'NOT_A_NUMBER');
          assertBytes(await store.get('n'), value, JSON.stringify(value));
        }
        await store.set('bin', Uint8Array.of(0x31, 0x00));
        await assertStoreError(store.increment('bin', 1n), 'NOT_A_NUMBER');
      });

      storeTest('a result beyond the signed 64-bit range fails with NOT_A_NUMBER and leaves the value unchanged', async (store) => {
        assert.equal(await store.increment('max', INT64_MAX), INT64_MAX);
        await assertStoreError(store.increment('max', 1n), 'NOT_A_NUMBER');
        assertBytes(await store.get('max'), String(INT64_MAX));
        assert.equal(await store.increment('min', INT64_MIN), INT64_MIN);
        await assertStoreError(store.increment('min', -1n), 'NOT_A_NUMBER');
        assertBytes(await store.get('min'), String(INT64_MIN));
        assert.equal(await store.increment('min', INT64_MAX), -1n);
      });

      storeTest('200 concurrent increments add exactly 200, each seeing a distinct result', async (store) => {
        const results = await Promise.all(Array.from({ length: 200 }, () => store.increment('hits', 1n)));
        assert.equal(await store.increment('hits', 0n), 200n);
        assert.deepEqual([...results].sort((a, b) => Number(a - b)), Array.from({ length: 200 }, (_, i) => BigInt(i + 1)));
      });
    });

    describe('compareAndSwap', () => {
      storeTest('null expected sets a missing key', async (store) => {
        assert.equal(await store.compareAndSwap('k', null, bytes('new')), true);
        assertBytes(await store.get('k'), 'new');
      });

      storeTest('null expected fails when the key exists, even with an empty value', async (store) => {
        await store.set('k', new Uint8Array(0));
        assert.equal(await store.compareAndSwap('k', null, bytes('new')), false);
        assertBytes(await store.get('k'), new Uint8Array(0));
      });

      storeTest('a matching expected value swaps', async (store) => {
        await store.set('k', bytes('old'));
        assert.equal(await store.compareAndSwap('k', bytes('old'), bytes('new')), true);
        assertBytes(await store.get('k'), 'new');
      });

      storeTest('a mismatching expected value, a prefix of it or a longer one does not swap', async (store) => {
        await store.set('k', bytes('abc'));
        for (const expected of ['abd', 'ab', 'abcd', 'ABC']) {
          assert.equal(await store.compareAndSwap('k', bytes(expected), bytes('new')), false, expected);
        }
        assertBytes(await store.get('k'), 'abc');
      });

      storeTest('a non-null expected value fails when the key is missing, even an empty one', async (store) => {
        assert.equal(await store.compareAndSwap('k', bytes('x'), bytes('new')), false);
        assert.equal(await store.compareAndSwap('k', new Uint8Array(0), bytes('new')), false);
        assert.equal(await store.exists('k'), false);
      });

      storeTest('empty and binary values compare by bytes', async (store) => {
        await store.set('k', new Uint8Array(0));
        assert.equal(await store.compareAndSwap('k', new Uint8Array(0), Uint8Array.of(0, 255)), true);
        assert.equal(await store.compareAndSwap('k', Uint8Array.of(0, 254), bytes('no')), false);
        assert.equal(await store.compareAndSwap('k', Uint8Array.of(0, 255).subarray(0, 2), new Uint8Array(0)), true);
        assertBytes(await store.get('k'), new Uint8Array(0));
      });

      storeTest('a deleted key can be created again with null expected', async (store) => {
        await store.set('k', bytes('v'));
        await store.delete('k');
        assert.equal(await store.compareAndSwap('k', null, bytes('again')), true);
        assertBytes(await store.get('k'), 'again');
      });

      storeTest('50 concurrent compare-and-swap loops incrementing one counter lose no update', async (store) => {
        const loops = 50;
        const rounds = 4;
        await Promise.all(
          Array.from({ length: loops }, async () => {
            for (let i = 0; i < rounds; i++) await casIncrement(store, 'counter');
          }),
        );
        assertBytes(await store.get('counter'), String(loops * rounds));
      });
    });

    describe('close', () => {
      storeTest('a closed store refuses calls with UNAVAILABLE, and closing again is harmless', async (store) => {
        await store.set('k', bytes('v'));
        await store.close();
        await assertStoreError(store.get('k'), 'UNAVAILABLE');
        await assertStoreError(store.set('k', bytes('w')), 'UNAVAILABLE');
        await assertStoreError(store.increment('n', 1n), 'UNAVAILABLE');
        await assertStoreError(store.listKeys('', undefined, 10), 'UNAVAILABLE');
        await store.close();
      });
    });
  });
}
