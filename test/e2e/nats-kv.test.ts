/**
 * The shared key-value cases (capability-cases.ts) on a `nats` store, through both guest
 * interfaces — a WAGI guest (verge:v1) and a component (wasi:keyvalue) — served by the real CLI against a real nats-server that wants a token: the URL takes
 * it from a secret variable, and it never reaches the log. Then the node keeps running while NATS
 * is stopped (UNAVAILABLE, not a hung worker) and serves again when NATS is back.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { fixtureComponent } from '../support/components.js';
import { startNats, type SingleNats } from '../support/nats.js';
import { freePort } from '../support/postgres.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { kvCases, probeCall, runSteps } from './capability-cases.js';

const TOKEN = 'nats-token-5c1e9a7f20b3';

describe('guests of both interfaces on a nats key-value store, through verge up', () => {
  let nats: SingleNats;
  let node: VergeProcess;

  before(async () => {
    // The node starts first, with NATS not yet up: the store connects on first use.
    const port = await freePort();
    // A store (a bucket) per guest interface: the cases expect a store no other case wrote to.
    const store = (name: string) => `[key_value_stores.${name}]\nbackend = "nats"\nurl = "nats://{{ nats_token }}@127.0.0.1:${port}"\ntimeout_ms = 2000\n\n`;
    const toml = `${store('nkv')}${store('nkvc')}[variables]\nnats_token = { required = true, secret = true }`;
    const limits = 'timeout_ms = 10000';
    const app = writeApp(
      'natskv',
      {
        kv: { route: '/kv/...', wasm: buildCapabilityProbe(), extra: 'key_value_stores = ["nkv"]', limits },
        kvc: { route: '/kvc/...', wasm: await fixtureComponent('probe'), extra: 'key_value_stores = ["nkvc"]', limits },
      },
      toml,
    );
    // A component probe not transpiled yet takes ~15 s of the start here.
    node = await startVerge(app, ['--workers', '2'], { env: { VERGE_VAR_NATS_TOKEN: TOKEN }, readyMs: 60_000 });
    nats = await startNats({ port, token: TOKEN });
  });

  after(async () => {
    await node?.stop();
    await nats?.destroy();
  });

  const call = (op: string, query: Record<string, string | number>) => probeCall(node, 'kv', op, query);

  for (const [route, guest, name] of [['kv', 'WAGI', 'nkv'], ['kvc', 'component', 'nkvc']] as const) {
    for (const c of kvCases(name)) test(`${guest}: ${c.name}`, () => runSteps(node, route, c.steps));
  }

  test('the token never reaches the log', () => {
    assert.ok(!node.stdout().includes(TOKEN) && !node.stderr().includes(TOKEN));
  });

  test('with NATS stopped a call is UNAVAILABLE or TIMEOUT within the store timeout, and the node serves again once NATS is back', async () => {
    assert.deepEqual(await call('kv-set', { store: 'nkv', key: 'survivor', value: 'kept' }).then(({ id, ...r }) => r), { status: 200, value: true });
    await nats.stop();
    const started = Date.now();
    const down = await call('kv-get', { store: 'nkv', key: 'survivor' });
    assert.equal(down.status, 500);
    assert.ok(['UNAVAILABLE', 'TIMEOUT'].includes((down as { error?: string }).error ?? ''), JSON.stringify(down));
    assert.ok(Date.now() - started < 4000, 'answered within the store timeout, not the request deadline');
    await nats.start();
    const until = Date.now() + 20_000;
    for (;;) {
      const { id, ...r } = await call('kv-get', { store: 'nkv', key: 'survivor' });
      if (r.status === 200) {
        assert.deepEqual(r, { status: 200, value: 'kept' });
        break;
      }
      assert.ok(Date.now() < until, `served again after NATS came back: ${JSON.stringify(r)} (${id})`);
      await new Promise((res) => setTimeout(res, 250));
    }
  });
});
