/**
 * The shared key-value cases (capability-cases.ts) on a `replicated` store, through both guest
 * interfaces — a WAGI guest (verge:v1) and a component (wasi:keyvalue) — served by the real CLI,
 * its replica a real SQLite file, its changes exchanged over a real nats-server. Then a second
 * node on the same stream reads what the first node's guests wrote, through the other interface.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { fixtureComponent } from '../support/components.js';
import { startNats, type SingleNats } from '../support/nats.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { kvCases, probeCall, runSteps } from './capability-cases.js';

describe('guests of both interfaces on a replicated key-value store, through verge up', () => {
  let nats: SingleNats;
  let first: VergeProcess;
  let second: VergeProcess;

  before(async () => {
    nats = await startNats();
    // A store (a stream) per guest interface: the cases expect a store no other case wrote to.
    const store = (name: string) => `[key_value_stores.${name}]\nbackend = "replicated"\nurl = "nats://127.0.0.1:${nats.port}"\ntimeout_ms = 2000\n\n`;
    const limits = 'timeout_ms = 10000';
    const probe = buildCapabilityProbe();
    const component = await fixtureComponent('probe');
    const app = () =>
      writeApp(
        'replkv',
        {
          kv: { route: '/kv/...', wasm: probe, extra: 'key_value_stores = ["rkv", "rkvc"]', limits },
          kvc: { route: '/kvc/...', wasm: component, extra: 'key_value_stores = ["rkv", "rkvc"]', limits },
        },
        `${store('rkv')}${store('rkvc')}`,
      );
    // Two nodes, each with its own folder and so its own replica files: only the stream is shared.
    // A component probe not transpiled yet takes ~15 s of the start here.
    first = await startVerge(app(), ['--workers', '2'], { readyMs: 60_000 });
    second = await startVerge(app(), ['--workers', '1'], { readyMs: 60_000 });
  });

  after(async () => {
    await first?.stop();
    await second?.stop();
    await nats?.destroy();
  });

  const call = (node: VergeProcess, op: string, query: Record<string, string | number>, route: string) => probeCall(node, route, op, query);

  for (const [route, guest, name] of [['kv', 'WAGI', 'rkv'], ['kvc', 'component', 'rkvc']] as const) {
    for (const c of kvCases(name)) test(`${guest}: ${c.name}`, () => runSteps(first, route, c.steps));
  }

  test("a write and an increment made by one node's component are read by the other node's WAGI guest once they have gone out", async () => {
    assert.deepEqual(await call(first, 'kv-set', { store: 'rkv', key: 'crossed', value: 'from-the-component' }, 'kvc').then(({ id, ...r }) => r), { status: 200, value: true });
    for (let i = 0; i < 3; i++) assert.equal((await call(first, 'kv-incr', { store: 'rkv', key: 'hits', by: 2 }, 'kvc')).status, 200);
    const until = Date.now() + 15_000;
    for (;;) {
      const { id: _a, ...value } = await call(second, 'kv-get', { store: 'rkv', key: 'crossed' }, 'kv');
      const { id: _b, ...hits } = await call(second, 'kv-get', { store: 'rkv', key: 'hits' }, 'kv');
      if (value.status === 200 && hits.status === 200 && (hits as { value?: string }).value === '6') {
        assert.deepEqual(value, { status: 200, value: 'from-the-component' });
        break;
      }
      assert.ok(Date.now() < until, `the second node read ${JSON.stringify(value)} and ${JSON.stringify(hits)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });
});
