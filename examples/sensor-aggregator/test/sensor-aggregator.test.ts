/**
 * Builds examples/sensor-aggregator (Rust on verge-sdk, serde_json from Debian's crates) with
 * `verge build`, serves it with `verge up`, and drives it over HTTP: validation, per-device
 * idempotency, region statistics, 404/405, and no lost update under concurrent writers.
 *
 * Region and device names carry a per-run suffix, so the test does not depend on the store
 * being empty when it starts.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { buildAndServe, type VergeProcess } from '../../../test/support/verge-process.js';

const APP = fileURLToPath(new URL('../../../../examples/sensor-aggregator', import.meta.url));
const RUN = randomUUID().slice(0, 8);

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function call(node: VergeProcess, method: string, path: string, body?: string): Promise<Reply> {
  const res = await fetch(node.url + path, {
    method,
    body,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // Left empty: the assertions on status and fields report the problem with the text.
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** A reading as posted; fields are `unknown` so invalid ones can be sent too. */
type Reading = Record<string, unknown>;

function postReading(node: VergeProcess, reading: Reading): Promise<Reply> {
  return call(node, 'POST', '/readings', JSON.stringify(reading));
}

function reading(device: string, region: string, temperature: number, timestamp: number): Reading {
  return { device_id: device, region, temperature_c: temperature, timestamp };
}

describe('examples/sensor-aggregator', () => {
  let node: VergeProcess;
  before(async () => {
    node = await buildAndServe(APP);
  });
  after(async () => {
    await node?.stop();
  });

  test('POST /readings validates each field and names it', async () => {
    const ok = reading(`v-${RUN}`, `v-${RUN}`, 20, 1);
    const cases: Array<[string, Reading]> = [
      ['device_id', { ...ok, device_id: undefined }],
      ['device_id', { ...ok, device_id: '' }],
      ['device_id', { ...ok, device_id: 42 }],
      ['device_id', { ...ok, device_id: 'd'.repeat(65) }],
      ['region', { ...ok, region: undefined }],
      ['region', { ...ok, region: '' }],
      ['region', { ...ok, region: ['eu'] }],
      ['region', { ...ok, region: 'r'.repeat(65) }],
      ['temperature_c', { ...ok, temperature_c: undefined }],
      ['temperature_c', { ...ok, temperature_c: '20' }],
      ['temperature_c', { ...ok, temperature_c: 70.5 }],
      ['temperature_c', { ...ok, temperature_c: -90.01 }],
      ['timestamp', { ...ok, timestamp: undefined }],
      ['timestamp', { ...ok, timestamp: -1 }],
      ['timestamp', { ...ok, timestamp: 1.5 }],
      ['timestamp', { ...ok, timestamp: '1700000000' }],
    ];
    for (const [field, body] of cases) {
      const r = await postReading(node, body);
      const what = `${field}: ${JSON.stringify(body).slice(0, 120)}`;
      assert.equal(r.status, 400, what);
      assert.equal(r.json.error, 'VALIDATION', what);
      assert.equal(r.json.field, field, what);
      assert.equal(typeof r.json.message, 'string', what);
      assert.match(String(r.json.message), new RegExp(field), what);
    }
    const notObject = await call(node, 'POST', '/readings', '[1,2]');
    assert.equal(notObject.status, 400);
    assert.equal(notObject.json.error, 'VALIDATION');

    // The bounds themselves are valid; so are 64-character names.
    assert.equal((await postReading(node, reading('d'.repeat(56) + RUN, `v-${RUN}`, -90, 0))).status, 201);
    assert.equal((await postReading(node, reading(`vb-${RUN}`, 'r'.repeat(56) + RUN, 70, 1))).status, 201);
    // Nothing invalid was counted.
    assert.equal((await call(node, 'GET', `/regions/v-${RUN}`)).json.count, 1);
  });

  test('POST /readings with malformed JSON answers 400 BAD_JSON', async () => {
    for (const body of ['{"device_id": "x",', 'not json', '{"a":1} trailing', '', '['.repeat(1000)]) {
      const r = await call(node, 'POST', '/readings', body);
      assert.equal(r.status, 400, body.slice(0, 40));
      assert.equal(r.json.error, 'BAD_JSON', body.slice(0, 40));
      assert.equal(typeof r.json.message, 'string');
    }
  });

  test('readings are idempotent per device: a timestamp not after the last accepted one is a duplicate', async () => {
    const region = `idem-${RUN}`;
    const device = `dev-${RUN}`;
    let r = await postReading(node, reading(device, region, 10, 1000));
    assert.equal(r.status, 201);
    assert.deepEqual(r.json, { status: 'accepted' });
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);

    r = await postReading(node, reading(device, region, 10, 1000));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { status: 'duplicate' });
    r = await postReading(node, reading(device, region, 49, 999));
    assert.deepEqual([r.status, r.json], [200, { status: 'duplicate' }]);

    r = await postReading(node, reading(device, region, 12, 1001));
    assert.deepEqual([r.status, r.json], [201, { status: 'accepted' }]);
    // Another device may use the same timestamp.
    r = await postReading(node, reading(`${device}-b`, region, 14, 1000));
    assert.equal(r.status, 201);

    const stats = await call(node, 'GET', `/regions/${region}`);
    assert.deepEqual(stats.json, { region, count: 3, sum: 36, sum_milli_c: 36_000, mean: 12 });
  });

  test('GET /regions/:region reports count, sum (also exact in thousandths of a degree) and mean; GET /regions lists regions', async () => {
    const a = `stats-a-${RUN}`;
    const b = `stats b?#%é-${RUN}`; // needs percent-encoding in the URL
    const temps = [21.5, -3.25, 40, 0, 12.75];
    for (const [i, t] of temps.entries()) {
      assert.equal((await postReading(node, reading(`s-${RUN}-${i}`, a, t, 1_700_000_000_000 + i))).status, 201);
    }
    assert.equal((await postReading(node, reading(`s-${RUN}-x`, b, -7.5, 5))).status, 201);

    const r = await call(node, 'GET', `/regions/${a}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    const sum = temps.reduce((x, y) => x + y, 0);
    assert.deepEqual(r.json, { region: a, count: 5, sum, sum_milli_c: sum * 1000, mean: sum / 5 });

    const rb = await call(node, 'GET', `/regions/${encodeURIComponent(b)}`);
    assert.equal(rb.status, 200, rb.text);
    assert.deepEqual(rb.json, { region: b, count: 1, sum: -7.5, sum_milli_c: -7500, mean: -7.5 });
    // A region may hold "/", but a path cannot name it: Verge refuses an encoded "/" in a segment.
    const slashed = await call(node, 'GET', `/regions/${encodeURIComponent(`a/b-${RUN}`)}`);
    assert.deepEqual([slashed.status, slashed.json.error], [400, 'PATH_NOT_ALLOWED']);

    const list = await call(node, 'GET', '/regions');
    assert.equal(list.status, 200);
    const regions = list.json.regions as string[];
    assert.ok(Array.isArray(regions));
    assert.ok(regions.includes(a) && regions.includes(b), JSON.stringify(regions));
    assert.deepEqual([...regions].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))), regions, 'in byte order');
  });

  test('unknown regions and paths answer 404 JSON; wrong methods 405 with allow', async () => {
    const region = await call(node, 'GET', `/regions/never-${RUN}`);
    assert.equal(region.status, 404);
    assert.equal(region.json.error, 'NOT_FOUND');
    assert.equal(typeof region.json.message, 'string');

    for (const path of ['/', '/nope', '/readings/x', '/regions/a/b']) {
      const r = await call(node, 'GET', path);
      assert.equal(r.status, 404, path);
      assert.equal(r.json.error, 'NOT_FOUND', path);
    }

    const cases: Array<[string, string, RegExp]> = [
      ['GET', '/readings', /POST/],
      ['PUT', '/readings', /POST/],
      ['POST', '/regions', /GET/],
      ['DELETE', `/regions/idem-${RUN}`, /GET/],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(node, method, path, method === 'GET' || method === 'DELETE' ? undefined : '{}');
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.match(r.headers.get('allow') ?? '', allow, `${method} ${path}`);
      assert.equal(r.json.error, 'METHOD_NOT_ALLOWED');
    }
  });

  test('8 parallel clients x 500 readings into one region lose no update', { timeout: 300_000 }, async () => {
    const region = `hot-${RUN}`;
    const CLIENTS = 8;
    const PER_CLIENT = 500;
    // Multiples of 0.25 in [-50, 49.75]: the sum is exact in binary floating point whatever
    // the order the updates land in, so it can be compared exactly.
    const temperature = (k: number) => (k % 400) * 0.25 - 50;
    const statuses = new Map<number, number>();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < PER_CLIENT; i++) {
          const body = reading(`hot-${RUN}-${c}`, region, temperature(c * PER_CLIENT + i), i + 1);
          let r = await postReading(node, body);
          // A 503 STORE_UNAVAILABLE says "retry later" (the store's lock wait ran out on a loaded
          // machine): a client retries, and the reading's sequence makes the retry safe. If the
          // first attempt had landed, the retry is a 200 duplicate; the totals below stay exact.
          for (let attempt = 1; r.status === 503 && attempt <= 5; attempt++) {
            await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
            const again = await postReading(node, body);
            r = again.status === 200 ? { ...again, status: 201 } : again;
          }
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status !== 201) assert.fail(`client ${c} reading ${i}: ${r.status} ${r.text}`);
        }
      }),
    );
    assert.deepEqual([...statuses], [[201, CLIENTS * PER_CLIENT]]);

    let sum = 0;
    for (let k = 0; k < CLIENTS * PER_CLIENT; k++) sum += temperature(k);
    const r = await call(node, 'GET', `/regions/${region}`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { region, count: CLIENTS * PER_CLIENT, sum, sum_milli_c: sum * 1000, mean: sum / (CLIENTS * PER_CLIENT) });
  });

  test('concurrent copies of one reading are accepted exactly once', { timeout: 120_000 }, async () => {
    const region = `twins-${RUN}`;
    const ROUNDS = 20;
    for (let round = 1; round <= ROUNDS; round++) {
      const replies = await Promise.all(
        Array.from({ length: 8 }, () => postReading(node, reading(`twin-${RUN}`, region, 1, round))),
      );
      const statuses = replies.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 200, 200, 201], `round ${round}: ${replies.map((r) => r.text).join(' | ')}`);
    }
    assert.equal((await call(node, 'GET', `/regions/${region}`)).json.count, ROUNDS);
  });
});

describe('examples/sensor-aggregator when its store fails', () => {
  let node: VergeProcess;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-aggregator-'));
    node = await buildAndServe(APP, ['--data-dir', dataDir, '--workers', '1'], { admin: true });
  });
  after(async () => {
    await node?.stop();
  });

  test('a locked store answers 503 fast, the circuit breaker opens, and the service recovers without losing a reading', async () => {
    const region = `locked-${RUN}`;
    assert.equal((await postReading(node, reading(`d-${RUN}`, region, 20, 1))).status, 201);
    // A real failure: another connection holds SQLite's write lock.
    const holder = new Database(path.join(dataDir, 'default.sqlite'));
    holder.exec('BEGIN EXCLUSIVE');
    try {
      const t0 = Date.now();
      const replies: Reply[] = [];
      for (let i = 0; i < 8; i++) replies.push(await postReading(node, reading(`d-${RUN}`, region, 21, 2 + i)));
      const elapsed = Date.now() - t0;
      for (const r of replies) {
        assert.equal(r.status, 503, r.text);
        assert.equal(r.json.error, 'STORE_UNAVAILABLE');
        assert.equal(r.headers.get('retry-after'), '1');
      }
      // Five calls wait out the 250 ms lock timeout, then the open breaker refuses at once.
      assert.ok(elapsed < 8 * 250, `8 readings took ${elapsed} ms`);
      const metrics = await (await fetch(`${node.adminUrl}/metrics`)).text();
      assert.match(metrics, /verge_kv_breaker_transitions_total\{app="sensor-aggregator",store="default",side="write",state="open"\} 1/);
      assert.match(metrics, /verge_kv_breaker_state\{app="sensor-aggregator",store="default",side="write"\} 2/);
      // Reads have their own breaker: the statistics stay readable while writes are refused.
      const stats = await call(node, 'GET', `/regions/${region}`);
      assert.equal(stats.status, 200, stats.text);
      assert.equal(stats.json.count, 1);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const until = Date.now() + 10_000;
    let accepted: Reply | undefined;
    while (Date.now() < until) {
      const r = await postReading(node, reading(`d-${RUN}`, region, 22, 100));
      if (r.status === 201) {
        accepted = r;
        break;
      }
      assert.equal(r.status, 503);
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.ok(accepted, 'the service recovered after the cool-down');
    const stats = await call(node, 'GET', `/regions/${region}`);
    assert.equal(stats.json.count, 2, 'the readings from before and after the failure are both counted, once');
  });
});
