/**
 * [[trigger.redis]] end to end: a node with an admin listener, apps deployed to it with
 * `verge deploy`, messages published with redis-cli on a real redis-server, and the guests (the
 * WAGI probe and the component probe) RPUSHing what they received onto a list the test reads.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeApp } from '../support/app.js';
import { buildCapabilityProbe } from '../support/c-probe.js';
import { fixtureComponent } from '../support/components.js';
import { startRedis, type RedisServer } from '../support/redis-server.js';
import { runVerge, startVerge, type VergeProcess } from '../support/verge-process.js';

const TOKEN = 'trigger-test-token-0123456789';

/** Polls `check` every 50 ms until it holds or `ms` passes; returns its last answer. */
async function until<T>(ms: number, read: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms;
  let v = await read();
  while (!check(v) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

describe('redis trigger', () => {
  let redis: RedisServer;
  let node: VergeProcess;
  let wagi: Uint8Array;
  let component: Uint8Array;

  /** An app whose `listener` (WAGI) and `spin` (component) both take `events`; `tag` tells versions apart. */
  const app = (tag: string, triggers = true) =>
    writeApp(
      'listeners',
      {
        listener: { route: '/listener/...', wasm: wagi, extra: 'redis = ["main"]\nvariables = ["tag"]' },
        spin: { route: '/spin/...', wasm: component, extra: 'redis = ["main"]\nvariables = ["tag"]' },
      },
      [
        '[variables]',
        `tag = { default = "${tag}" }`,
        '',
        '[redis.main]',
        `url = "redis://127.0.0.1:${redis.port}"`,
        ...(triggers
          ? ['', '[[trigger.redis]]', 'channel = "events"', 'component = "listener"', '', '[[trigger.redis]]', 'channel = "events"', 'component = "spin"', '', '[[trigger.redis]]', 'channel = "only-wagi"', 'component = "listener"']
          : []),
      ].join('\n'),
    );

  const deploy = async (dir: string) => {
    const r = await runVerge(['deploy', dir, '--to', node.adminUrl!], { env: { VERGE_ADMIN_TOKEN: TOKEN } });
    assert.equal(r.code, 0, r.stderr);
  };
  const received = async () => (await redis.cli('LRANGE', 'received', '0', '-1')).split('\n').filter((l) => l !== '');
  const subscribers = async (channel: string) => Number((await redis.cli('PUBSUB', 'NUMSUB', channel)).split('\n')[1]);

  before(async () => {
    [redis, wagi, component] = await Promise.all([startRedis(), buildCapabilityProbe(), fixtureComponent('probe')]);
    node = await startVerge('', ['--data-dir', mkdtempSync(path.join(os.tmpdir(), 'verge-trigger-')), '--workers', '2'], { admin: true, env: { VERGE_ADMIN_TOKEN: TOKEN } });
    await deploy(app('v1'));
    assert.equal(await until(10_000, () => subscribers('events'), (n) => n === 1), 1, 'the node subscribes to events once');
  });

  after(async () => {
    await node?.stop();
    await redis?.stop();
  });

  test('each message runs every component subscribed to its channel once, with the message as the body and the channel in a header', async () => {
    await redis.cli('DEL', 'received');
    for (let i = 0; i < 20; i++) await redis.cli('PUBLISH', 'events', `message-${i}`);
    await redis.cli('PUBLISH', 'only-wagi', 'just-one');
    const got = await until(15_000, received, (l) => l.length >= 41);
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `v1|events|message-${i}`),
      ...Array.from({ length: 20 }, (_, i) => `v1|events|message-${i}`),
      'v1|only-wagi|just-one',
    ].sort();
    // Settle: nothing arrives twice later either.
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual((await received()).sort(), expected);
    assert.equal(got.length >= 41, true);
  });

  test('a handler that fails is logged and counted, and the next message runs', async () => {
    await redis.cli('DEL', 'received');
    await redis.cli('PUBLISH', 'only-wagi', 'fail');
    await redis.cli('PUBLISH', 'only-wagi', 'after');
    await until(10_000, received, (l) => l.includes('v1|only-wagi|after'));
    const failed = await until(5000, async () => node.logs().filter((l) => l.msg === 'redis trigger message failed'), (l) => l.length > 0);
    assert.equal(failed[0]?.status, 500);
    assert.equal(failed[0]?.component, 'listener');
    assert.equal(failed[0]?.channel, 'only-wagi');
    const metrics = await (await fetch(`${node.adminUrl}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.match(metrics, /verge_trigger_messages_total\{trigger="redis",app="listeners",component="listener",outcome="failed"\} 1/);
    assert.match(metrics, /verge_trigger_messages_total\{trigger="redis",app="listeners",component="listener",outcome="ok"\} \d+/);
  });

  test('after a deploy the new version handles the messages, still once each, and a channel no version wants is left', async () => {
    await deploy(app('v2'));
    assert.equal(await subscribers('events'), 1);
    await redis.cli('DEL', 'received');
    for (let i = 0; i < 5; i++) await redis.cli('PUBLISH', 'events', `after-deploy-${i}`);
    await until(10_000, received, (l) => l.length >= 10);
    await new Promise((r) => setTimeout(r, 300));
    const expected = Array.from({ length: 5 }, (_, i) => `v2|events|after-deploy-${i}`);
    assert.deepEqual((await received()).sort(), [...expected, ...expected].sort());
    await deploy(app('v3', false));
    assert.equal(await until(5000, () => subscribers('events'), (n) => n === 0), 0, 'unsubscribed once no serving version has the trigger');
    await deploy(app('v4'));
    assert.equal(await until(5000, () => subscribers('events'), (n) => n === 1), 1);
  });

  test('when the server restarts, the subscriber reconnects and subscribes again', async () => {
    await redis.restart();
    // Messages published before it subscribed again are not seen: publish until one is.
    const handled = await until(
      20_000,
      async () => {
        await redis.cli('PUBLISH', 'only-wagi', 'back');
        return received();
      },
      (l) => l.includes('v4|only-wagi|back'),
    );
    assert.ok(handled.includes('v4|only-wagi|back'));
    assert.equal(await subscribers('only-wagi'), 1);
  });
});
