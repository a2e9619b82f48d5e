/** Pruning with a real nats-server: a long-gone record is purged by a live node, and only that revision of it. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { startNats, type SingleNats } from '../../test/support/nats.js';
import { createLogger } from '../telemetry/logging.js';
import { parseNatsAddress, type NatsAddress } from '../backends/nats/address.js';
import { CLUSTER_DEFAULTS } from './record.js';
import { joinCluster, PRUNE_EVERY_BEATS } from './membership.js';
import type { ClusterConfig } from './options.js';

let nats: SingleNats;
let nc: NatsConnection;
let kv: KV;

before(async () => {
  nats = await startNats();
  nc = await connect({ servers: nats.url });
  kv = await new Kvm(jetstream(nc)).create(CLUSTER_DEFAULTS.bucket, { history: 1 });
});

after(async () => {
  await nc?.close();
  await nats?.destroy();
});

const ghost = (id: string) => JSON.stringify({ id, region: null, admin_url: null, url: 'http://gone', verge_version: '0', started_at: '', last_seen: '', heartbeat_ms: 100, serves: {} });

test('a live node purges a record past the prune bound and leaves the records of live nodes', async () => {
  await kv.put('ghost', ghost('ghost'));
  const config: ClusterConfig = {
    address: parseNatsAddress(nats.url) as NatsAddress,
    creds: undefined,
    nodeId: 'pruner',
    region: undefined,
    bucket: CLUSTER_DEFAULTS.bucket,
    replicas: 1,
    heartbeatMs: 100,
    pruneAfterMs: 1000,
  };
  // The pruner's first look finds the ghost fresh; its next, PRUNE_EVERY_BEATS heartbeats later, finds it past the bound.
  const member = joinCluster(config, () => ({ url: 'http://pruner', admin_url: null, serves: {} }), createLogger('silent').logger);
  try {
    const deadline = Date.now() + PRUNE_EVERY_BEATS * 100 * 2 + 5000;
    for (;;) {
      const entry = await kv.get('ghost');
      if (entry?.operation !== 'PUT') break;
      // Another node, beating all along: its record never gets past the bound.
      await kv.put('fresh', ghost('fresh'));
      assert.ok(Date.now() < deadline, 'the ghost record was not pruned in time');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await kv.get('fresh'))?.operation, 'PUT');
    const status = await member.status();
    assert.deepEqual(status.nodes.map((n) => n.id).filter((id) => id !== 'fresh'), ['pruner']);
  } finally {
    await member.close();
  }
  assert.notEqual((await kv.get('pruner'))?.operation, 'PUT', 'a clean close deletes its own record');
});
