/**
 * Reads without a consumer, against a real three-server NATS cluster (replicas 3): what nats.js
 * wrote is listed and read back byte for byte, a short or altered object fails as worth a retry,
 * and with one server stopped every listing and read still answers (a consumer-based read got no
 * answer about one time in three there).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { startNatsCluster, type NatsCluster } from '../../../test/support/nats.js';
import { kvKeys, objectChunks, objectInfo, objectNames } from './stream-reads.js';

let cluster: NatsCluster;
let nc: NatsConnection;
let jsm: JetStreamManager;
let kv: KV;
let objects: ObjectStore;

before(async () => {
  cluster = await startNatsCluster(3);
  // Not on the server the last test stops: this client stays connected throughout.
  nc = await connect({ servers: [cluster.servers[1]!.url, cluster.servers[2]!.url], timeout: 2000 });
  jsm = await jetstreamManager(nc, { timeout: 2000 });
  kv = await new Kvm(jetstream(nc)).create('reads', { replicas: 3, history: 1 });
  objects = await new Objm(jetstream(nc)).create('blobs', { replicas: 3 });
});

after(async () => {
  await nc?.close();
  await cluster?.destroy();
});

async function readAll(name: string, chunks = (info: NonNullable<Awaited<ReturnType<typeof objectInfo>>>) => info): Promise<Buffer> {
  const info = await objectInfo(jsm, 'blobs', name);
  assert.ok(info, `${name} has an info`);
  const parts: Uint8Array[] = [];
  for await (const part of objectChunks(jsm, chunks(info), 2000)) parts.push(part);
  return Buffer.concat(parts);
}

describe('reading the cluster\'s buckets without a consumer', () => {
  test('lists a bucket\'s keys, a deleted one included, in order', async () => {
    await kv.put('menu', 'a');
    await kv.put('cart', 'b');
    await kv.put('shop', 'c');
    await kv.delete('cart');
    assert.deepEqual(await kvKeys(jsm, 'reads'), ['cart', 'menu', 'shop']);
    assert.equal((await kv.get('cart'))?.operation, 'DEL');
  });

  test('lists object names as nats.js wrote them, however they encode', async () => {
    const names = ['plain', 'with space/and slash', 'café crème', '??>>'];
    for (const name of names) await objects.putBlob({ name }, new Uint8Array([1]));
    const listed = await objectNames(jsm, 'blobs');
    for (const name of names) assert.ok(listed.includes(name), `${JSON.stringify(name)} in ${JSON.stringify(listed)}`);
    assert.equal((await objectInfo(jsm, 'blobs', 'café crème'))?.size, 1);
    assert.equal(await objectInfo(jsm, 'blobs', 'never put'), null);
  });

  test('reads back an object of many chunks byte for byte, and an empty one', async () => {
    const bytes = randomBytes(10_000);
    await objects.putBlob({ name: 'many', options: { max_chunk_size: 999 } }, bytes);
    const info = await objectInfo(jsm, 'blobs', 'many');
    assert.equal(info?.chunks, 11);
    assert.deepEqual(await readAll('many'), bytes);
    await objects.putBlob({ name: 'empty' }, new Uint8Array(0));
    assert.equal((await readAll('empty')).length, 0);
  });

  test('reads the latest bytes of an object put again under its name', async () => {
    await objects.putBlob({ name: 'again', options: { max_chunk_size: 100 } }, randomBytes(500));
    const latest = randomBytes(300);
    await objects.putBlob({ name: 'again', options: { max_chunk_size: 100 } }, latest);
    assert.deepEqual(await readAll('again'), latest);
  });

  test('fails with a plain error, never short bytes, when chunks are missing or the digest does not match', async () => {
    await objects.putBlob({ name: 'checked', options: { max_chunk_size: 100 } }, randomBytes(250));
    await assert.rejects(readAll('checked', (info) => ({ ...info, chunks: info.chunks + 1 })), (err: Error) => {
      assert.equal(err.constructor, Error);
      assert.match(err.message, /object checked in blobs has 3 of its 4 chunks in the store/);
      return true;
    });
    await assert.rejects(readAll('checked', (info) => ({ ...info, digest: `SHA-256=${Buffer.alloc(32).toString('base64url')}=` })), /read back as 250 bytes with SHA-256=\S+, not the 250 bytes with SHA-256=AAAA/);
    await assert.rejects(readAll('checked', (info) => ({ ...info, size: 251 })), /read back as 250 bytes/);
  });

  // Last: it stops one of the three servers.
  test('with one server of three stopped, every listing and read answers', async () => {
    const bytes = randomBytes(3000);
    await objects.putBlob({ name: 'during', options: { max_chunk_size: 1000 } }, bytes);
    await cluster.servers[0]!.stop();
    // The streams' leaders move to the live servers; a read in that moment may go unanswered.
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        await kvKeys(jsm, 'reads');
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(await kvKeys(jsm, 'reads'), ['cart', 'menu', 'shop']);
      assert.ok((await objectNames(jsm, 'blobs')).includes('during'));
      assert.deepEqual(await readAll('during'), bytes, `read ${i}`);
    }
  });
});
