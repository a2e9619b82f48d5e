/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against a real
 * node started with --admin and a token (and no OTLP endpoint), serving an app whose requests
 * write to its SQLite store. Sign-in (a wrong token refused), a request made here showing in
 * recent requests, its trace waterfall and its log records, the logs page filtered and live,
 * the app and its version, the live numbers updating without a reload, a key a request wrote
 * browsed to its value, and keys paged by prefix. Screenshots go to a temp folder whose path is
 * printed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { counter, kvLogFetch } from '../support/capability-guests.js';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { openSqliteStore } from '../../src/backends/sqlite/sqlite-store.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = randomBytes(24).toString('hex');
/** Bounds every wait on the page: a refresh is due every 2 s. */
const WAIT_MS = 15_000;
/** What the /work guest logs: its line shows in the trace (an event) and in the logs. */
const GUEST_LINE = 'dashboard guest says hi';

describe('the dashboard in Chromium', { timeout: 240_000 }, () => {
  let node: VergeProcess;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let shots: string;
  /** A server the /work guest calls, as an allowed outbound host. */
  let origin: http.Server;
  let originHost: string;
  /** What `hits` holds: /count and /work both increment it. */
  let counted = 0;
  /** The x-verge-version and x-request-id of the last request to /count. */
  let last: { version: string; id: string };
  const pageErrors: string[] = [];
  const policyViolations: string[] = [];

  async function count(): Promise<void> {
    const res = await fetch(`${node.url}/count`);
    assert.equal(res.status, 200, await res.clone().text());
    counted++;
    assert.equal(await res.text(), String(counted));
    last = { version: res.headers.get('x-verge-version')!, id: res.headers.get('x-request-id')! };
  }

  /** A request that writes to the store, logs GUEST_LINE and calls the origin; its request id. */
  async function work(headers: Record<string, string> = {}): Promise<string> {
    const res = await fetch(`${node.url}/work`, { headers });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(await res.text(), '200', 'the origin answered the guest');
    counted++;
    return res.headers.get('x-request-id')!;
  }

  /** GET /v1/`p` with the token, another authorization, or (null) none. */
  async function adminGet(p: string, authorization: string | null = `Bearer ${TOKEN}`): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${node.adminUrl}/v1/${p}`, { headers: authorization ? { authorization } : {} });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  }

  async function signIn(token: string): Promise<void> {
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    origin = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('origin'));
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    originHost = `127.0.0.1:${(origin.address() as AddressInfo).port}`;
    const dir = writeApp(
      'shop',
      {
        count: { route: '/count', wasm: await counter('default'), extra: 'key_value_stores = ["default"]' },
        work: { route: '/work', wasm: await kvLogFetch('default', 'target', GUEST_LINE), extra: `key_value_stores = ["default"]\nvariables = ["target"]\nallowed_outbound_hosts = ["http://${originHost}"]` },
      },
      `[variables]\ntarget = { default = "http://${originHost}/data" }`,
    );
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'verge-dashboard-data-'));
    node = await startVerge(dir, ['--data-dir', dataDir], { admin: true, env: { VERGE_ADMIN_TOKEN: TOKEN } });
    for (let i = 0; i < 3; i++) await count();
    shots = mkdtempSync(path.join(os.tmpdir(), 'verge-dashboard-screenshots-'));
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) policyViolations.push(m.text());
    });
  });

  after(async () => {
    await browser?.close();
    await node?.stop();
    origin?.close();
    if (shots) console.log(`dashboard screenshots: ${shots}`);
  });

  test('a wrong token is refused, by the page and by the API behind it', async () => {
    await page.goto(`${node.adminUrl}/`);
    await signIn('not-the-token-' + 'x'.repeat(20));
    await page.getByRole('alert').filter({ hasText: 'The node refused this token.' }).waitFor();
    assert.equal(await page.getByRole('navigation', { name: 'Sections' }).isVisible(), false);
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused token is not kept');
    await shot('1-wrong-token');
    for (const authorization of [undefined, 'Bearer not-the-token', `Basic ${TOKEN}`]) {
      const res = await fetch(`${node.adminUrl}/v1/stats`, { headers: authorization ? { authorization } : {} });
      assert.equal(res.status, 401, String(authorization));
      assert.equal(((await res.json()) as { error: string }).error, 'ADMIN_UNAUTHORIZED');
    }
  });

  test('signed in with the token, a request made by the test appears in recent requests and opens to its details', async () => {
    await signIn(TOKEN);
    await page.getByRole('navigation', { name: 'Sections' }).waitFor();
    await page.getByRole('heading', { name: 'Live', exact: true }).waitFor();
    await count();
    const made = last;
    await page.getByRole('link', { name: 'Requests', exact: true }).click();
    const row = page.locator(`tr[data-request-id="${made.id}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /GET \/count\s+200/);
    await shot('2-recent-requests');
    await row.getByRole('link', { name: 'GET /count' }).click();
    await page.getByRole('heading', { name: 'GET /count' }).waitFor();
    const details = await page.locator('main').innerText();
    for (const expected of [made.id, made.version, 'shop', '/count']) assert.ok(details.includes(expected), `the details show ${expected}:\n${details}`);
    // No OTLP endpoint, yet the admin listener's node records the trace: the counter's one KV call is in it.
    const trace = page.getByRole('table', { name: /^Trace [0-9a-f]{32}:/ });
    await trace.waitFor();
    assert.ok((await trace.locator('tr[data-span="kv.increment"]').count()) === 1, await trace.innerText());
    const logs = await page.getByRole('table', { name: /log records? of this request/ }).innerText();
    assert.match(logs, /info\s+request/);
    await shot('3-request-details');
  });

  test('a request that writes to the store opens from recent requests to its trace waterfall: the KV call, the outbound call and the guest’s log line under the execution', async () => {
    const id = await work();
    await page.getByRole('link', { name: 'Requests', exact: true }).click();
    await page.locator(`tr[data-request-id="${id}"]`).getByRole('link', { name: 'GET /work' }).click();
    await page.getByRole('heading', { name: 'GET /work' }).waitFor();
    const trace = page.getByRole('table', { name: /^Trace [0-9a-f]{32}:/ });
    await trace.waitFor();
    const spans = trace.locator('tbody tr.span');
    assert.deepEqual(
      (await spans.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-span')))).filter((n) => n !== 'instantiate'),
      ['GET /work', 'queue wait', 'execute', 'kv.increment', 'variables.get', 'GET'],
      'depth first, by start; an instance made after the previous answer shows no instantiate span',
    );
    const row = (name: string) => trace.locator(`tr[data-span="${name}"]`);
    const kv = await row('kv.increment').innerText();
    for (const expected of ['store default', 'op increment', 'key 4 B', 'outcome OK', 'ok']) assert.ok(kv.includes(expected), `the KV row shows ${expected}:\n${kv}`);
    const outbound = await row('GET').innerText();
    for (const expected of [`GET ${originHost}`, 'status 200', 'client']) assert.ok(outbound.includes(expected), `the outbound row shows ${expected}:\n${outbound}`);
    // Indented by parent: the host calls sit deeper than the execution, which sits deeper than the server span.
    const indent = (name: string) => row(name).locator('td.span-name').evaluate((td) => parseFloat((td as unknown as { style: { paddingLeft: string } }).style.paddingLeft));
    const [server, execute, kvIndent] = [await indent('GET /work'), await indent('execute'), await indent('kv.increment')];
    assert.ok(server < execute && execute < kvIndent, `indents ${server} < ${execute} < ${kvIndent}`);
    // The bar lies within the server span's track.
    const bar = await row('kv.increment').locator('.bar').boundingBox();
    const track = await row('kv.increment').locator('.track').boundingBox();
    assert.ok(bar && track && bar.width >= 1 && bar.x >= track.x - 1 && bar.x + bar.width <= track.x + track.width + 1, `bar ${JSON.stringify(bar)} in ${JSON.stringify(track)}`);
    // The guest's log line is a row under the execution span, and screen readers hear where it sits.
    const event = trace.locator('tr[data-event="log"]');
    assert.equal(await event.locator('td.span-name').textContent(), 'under execute: log (guest)');
    assert.ok((await event.innerText()).includes(GUEST_LINE));
    // From the keyboard: the rows take the focus in turn.
    await spans.first().focus();
    await page.keyboard.press('ArrowDown');
    assert.equal(await page.evaluate('document.activeElement.getAttribute("data-span")'), 'queue wait');
    await page.keyboard.press('End');
    assert.equal(await page.evaluate('document.activeElement.getAttribute("data-span")'), 'GET');
    await page.keyboard.press('Home');
    assert.equal(await page.evaluate('document.activeElement.getAttribute("data-span")'), 'GET /work');
    // Its log records: the guest's line and the request line.
    const logs = await page.getByRole('table', { name: /log records? of this request/ }).innerText();
    assert.ok(logs.includes(GUEST_LINE), logs);
    assert.match(logs, /info\s+request/);
    await shot('3b-trace-waterfall');
  });

  test('a request the sampler leaves out says so on its page instead of a waterfall', async () => {
    // A caller that marks its trace unsampled: the default parent-based sampler follows it.
    const id = await work({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' });
    await page.goto(`${node.adminUrl}/#/requests/${id}`);
    await page.getByRole('heading', { name: 'GET /work' }).waitFor();
    const pane = page.getByRole('region', { name: 'Trace', exact: true });
    await pane.getByText('No trace for this request').waitFor();
    assert.match(await pane.innerText(), /has no trace: it was not sampled, because its caller sent a traceparent marked unsampled/);
  });

  test('the logs page, filtered by a request id, shows that request’s log lines, each linking to the request', async () => {
    const id = await work();
    await page.getByRole('link', { name: 'Logs', exact: true }).click();
    await page.getByRole('heading', { name: 'Logs', exact: true }).waitFor();
    await page.getByLabel('Request id').fill(id);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const table = page.getByRole('table', { name: `Log records with request id “${id}”, newest first` });
    await table.getByRole('row').filter({ hasText: GUEST_LINE }).waitFor();
    // The request's own line too (message "request"), not only the guest's.
    await table.locator('tbody td:nth-child(3)', { hasText: /^request$/ }).waitFor();
    assert.deepEqual([...new Set(await table.locator('tbody tr td:nth-child(4)').allInnerTexts())], [id], 'every record shown is the request’s');
    assert.ok(page.url().endsWith(`#/logs?request_id=${id}`), page.url());
    await shot('9-logs-by-request');
    await table.getByRole('row').filter({ hasText: GUEST_LINE }).getByRole('link', { name: id }).click();
    await page.getByRole('heading', { name: 'GET /work' }).waitFor();
    assert.ok((await page.locator('main').innerText()).includes(id));
  });

  test('the logs page shows new records live, filtered by level and text, without a reload', async () => {
    await page.goto(`${node.adminUrl}/#/logs`);
    await page.getByRole('heading', { name: 'Logs', exact: true }).waitFor();
    await page.getByLabel('Level').selectOption('info');
    await page.getByLabel('Text').fill(GUEST_LINE);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    const table = page.getByRole('table', { name: /^Log records with level info and above, text “dashboard guest says hi”/ });
    await table.waitFor();
    await page.getByRole('status').filter({ hasText: 'Following the log' }).waitFor();
    await page.evaluate('window.notReloaded = true');
    const id = await work();
    await table.locator('tbody tr').filter({ has: page.getByRole('link', { name: id }) }).waitFor();
    assert.equal(await page.evaluate('window.notReloaded'), true, 'the record came without a reload');
    const texts = await table.locator('tbody tr td:nth-child(3)').allInnerTexts();
    assert.ok(texts.length >= 1 && texts.every((t) => t.includes(GUEST_LINE)), texts.join('\n'));
    await shot('10-logs-live');
    // Paused, the page closes its stream; resumed, it asks for what came after the last record it showed.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('status').filter({ hasText: 'Paused.' }).waitFor();
    const whilePaused = await work();
    await page.getByRole('button', { name: 'Resume' }).click();
    await table.locator('tbody tr').filter({ has: page.getByRole('link', { name: whilePaused }) }).waitFor();
    assert.equal(await table.locator('tbody tr').filter({ has: page.getByRole('link', { name: id }) }).count(), 1, 'nothing shown twice');
  });

  test('the app shows with its live version, its weight, its route and the component serving it', async () => {
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('link', { name: 'shop' }).click();
    await page.getByRole('heading', { name: 'App shop' }).waitFor();
    const version = page.getByRole('region', { name: `Version ${last.version}: weight 100` });
    await version.waitFor();
    const routes = await version.getByRole('table', { name: 'Routes' }).innerText();
    assert.match(routes, /\/count\s+count/);
    const components = await version.getByRole('table', { name: 'Components' }).innerText();
    assert.match(components, /count\s+WAGI module/);
    await page.getByRole('table', { name: 'Live versions over the last minute' }).filter({ hasText: last.version }).waitFor();
    await shot('4-app');
  });

  test('the live page shows the route’s traffic and the worker pool, and updates without reloading', async () => {
    await page.getByRole('link', { name: 'Live', exact: true }).click();
    const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: '/count', exact: true }) });
    await row.waitFor();
    // The row may still be the Apps page's (it lists /count too) for a moment after the click: wait for the live page's numbers.
    const poolRegion = page.getByRole('region', { name: 'Worker pool' });
    const filledBy = Date.now() + WAIT_MS;
    let pool = await poolRegion.innerText();
    while (!/Workers\s+\d+/.test(pool)) {
      assert.ok(Date.now() < filledBy, `the worker pool still read ${JSON.stringify(pool)} after ${WAIT_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
      pool = await poolRegion.innerText();
    }
    assert.match(pool, /Restarts\s+0/);
    assert.match(await page.getByRole('region', { name: 'Process memory' }).innerText(), /Resident\s+[\d.]+ MiB/);
    // A reload would drop this.
    await page.evaluate('window.notReloaded = true');
    const rate = row.getByRole('cell').nth(4);
    const before = await rate.innerText();
    for (let i = 0; i < 25; i++) await count();
    const until = Date.now() + WAIT_MS;
    while ((await rate.innerText()) === before) {
      assert.ok(Date.now() < until, `the rate stayed ${before} for ${WAIT_MS} ms after 25 more requests`);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(await page.evaluate('window.notReloaded'), true, 'the numbers changed without a reload');
    await shot('5-live');
  });

  test('the key-value browser lists the key the requests wrote and shows its value', async () => {
    await page.getByRole('link', { name: 'Key-value', exact: true }).click();
    await page.getByRole('heading', { name: 'Key-value stores' }).waitFor();
    await page.getByRole('link', { name: 'default', exact: true }).click();
    await page.getByRole('heading', { name: 'Store default' }).waitFor();
    await page.getByLabel('Key prefix').fill('hi');
    await page.getByRole('button', { name: 'List keys' }).click();
    await page.getByRole('heading', { name: 'Keys starting with “hi”' }).waitFor();
    await shot('6-keys');
    await page.getByRole('link', { name: 'hits' }).click();
    await page.getByRole('heading', { name: 'Key hits' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Text' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.getByLabel('Value', { exact: true }).innerText(), String(counted));
    await page.getByRole('button', { name: 'Hex' }).click();
    const hex = [...Buffer.from(String(counted))].map((b) => b.toString(16)).join(' ');
    assert.match(await page.getByLabel('Value', { exact: true }).innerText(), new RegExp(`^00000000  ${hex} +${counted}$`));
    await shot('7-value');
  });

  test('keys come 50 a page in byte order, and a JSON value reads pretty-printed', async () => {
    // Another writer beside the node's workers, as a second process would be: the same SQLite file.
    const store = openSqliteStore(path.join(dataDir, 'default.sqlite'));
    try {
      for (let i = 0; i < 60; i++) store.set(`user:${String(i).padStart(3, '0')}`, Buffer.from(JSON.stringify({ id: i, name: `user ${i}` })));
    } finally {
      store.close();
    }
    await page.getByRole('link', { name: 'default', exact: true }).click();
    await page.getByLabel('Key prefix').fill('user:');
    await page.getByRole('button', { name: 'List keys' }).click();
    const keys = page.getByRole('navigation', { name: 'Keys' }).getByRole('link');
    await page.getByRole('heading', { name: 'Keys starting with “user:”' }).waitFor();
    assert.equal(await keys.count(), 50);
    assert.equal(await keys.first().innerText(), 'user:000');
    assert.equal(await keys.last().innerText(), 'user:049');
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.getByRole('heading', { name: 'Keys starting with “user:” after “user:049”' }).waitFor();
    assert.deepEqual(await keys.allInnerTexts(), Array.from({ length: 10 }, (_, i) => `user:0${50 + i}`));
    assert.equal(await page.getByRole('link', { name: 'Next page' }).count(), 0, 'the last page has no next page');
    await page.getByRole('link', { name: 'user:059' }).click();
    await page.getByRole('heading', { name: 'Key user:059' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'JSON' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await page.getByLabel('Value', { exact: true }).innerText(), '{\n  "id": 59,\n  "name": "user 59"\n}');
    await shot('8-json-value');
  });

  test('the page can be used from the keyboard: a skip link first, then the sections as links', async () => {
    // A fresh load (only the hash changing would keep the focus where it is); the tab keeps the token.
    await page.goto(`${node.adminUrl}/#/requests`);
    await page.reload();
    await page.getByRole('heading', { name: 'Recent requests' }).waitFor();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.getAttribute("href")'), '#/');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Live', exact: true }).waitFor();
    assert.equal(await page.getByRole('link', { name: 'Live', exact: true }).getAttribute('aria-current'), 'page');
  });

  test('a request’s trace is served to the token only, and an id the node does not keep answers REQUEST_NOT_FOUND', async () => {
    const id = await work();
    for (const authorization of [null, 'Bearer not-the-token']) {
      const refused = await adminGet(`requests/${id}/trace`, authorization);
      assert.deepEqual([refused.status, refused.body.error], [401, 'ADMIN_UNAUTHORIZED'], String(authorization));
    }
    const { status, body } = await adminGet(`requests/${id}/trace`);
    assert.equal(status, 200, JSON.stringify(body));
    const spans = body.spans as Array<{ name: string; depth: number; start_ms: number; duration_ms: number; attributes: Record<string, unknown>; events: Array<{ attributes: Record<string, unknown> }> }>;
    assert.equal(body.request_id, id);
    assert.deepEqual([spans[0]!.name, spans[0]!.depth, spans[0]!.start_ms], ['GET /work', 0, 0]);
    const kv = spans.find((s) => s.name === 'kv.increment')!;
    assert.deepEqual([kv.depth, kv.attributes], [2, { 'verge.kv.store': 'default', 'verge.kv.op': 'increment', 'verge.kv.key_size': 4, 'verge.outcome': 'OK' }]);
    assert.ok(kv.start_ms >= 0 && kv.start_ms + kv.duration_ms <= (body.duration_ms as number) + 1, 'within the request');
    assert.equal(spans.find((s) => s.name === 'execute')!.events[0]!.attributes['log.message'], GUEST_LINE);
    const unknown = await adminGet('requests/no-such-request/trace');
    assert.deepEqual([unknown.status, unknown.body.error], [404, 'REQUEST_NOT_FOUND']);
    const unsampled = await work({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' });
    const none = await adminGet(`requests/${unsampled}/trace`);
    assert.deepEqual([none.status, none.body.error], [404, 'TRACE_NOT_FOUND']);
    assert.match(String(none.body.message), /not sampled/);
  });

  test('the calls behind the pages answer with the catalogue’s codes for what is not there', async () => {
    const get = async (p: string) => {
      const res = await fetch(`${node.adminUrl}/v1/${p}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return { status: res.status, error: ((await res.json()) as { error?: string }).error };
    };
    assert.deepEqual(await get('requests/no-such-request'), { status: 404, error: 'REQUEST_NOT_FOUND' });
    assert.deepEqual(await get('apps/shop/stores/nope/keys'), { status: 404, error: 'KV_STORE_NOT_FOUND' });
    assert.deepEqual(await get('apps/shop/stores/default/keys/no-such-key'), { status: 404, error: 'KV_KEY_NOT_FOUND' });
    assert.deepEqual(await get('apps/elsewhere/routes'), { status: 404, error: 'APP_NOT_FOUND' });
    assert.deepEqual(await get('apps/shop/stores/default/keys?limit=0'), { status: 400, error: 'BAD_REQUEST' });
    const keys = async (query: string) => (await fetch(`${node.adminUrl}/v1/apps/shop/stores/default/keys?${query}`, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    assert.deepEqual(await keys('limit=1'), { store: 'default', prefix: '', keys: ['hits'], next: 'hits' });
    assert.deepEqual(await keys('limit=1&prefix=hi'), { store: 'default', prefix: 'hi', keys: ['hits'], next: null });
  });

  test('nothing on the page failed or broke its own content policy', () => {
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(policyViolations, []);
  });
});
