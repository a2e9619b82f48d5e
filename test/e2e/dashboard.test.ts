/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core against a real
 * node started with --admin and a token, serving an app whose requests write to its SQLite
 * store. Sign-in (a wrong token refused), a request made here showing in recent requests, the
 * app and its version, the live numbers updating without a reload, a key a request wrote
 * browsed to its value, and keys paged by prefix. Screenshots go to a temp folder whose path is
 * printed.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { counter } from '../support/capability-guests.js';
import { writeApp } from '../support/app.js';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { openSqliteStore } from '../../src/backends/sqlite/sqlite-store.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = randomBytes(24).toString('hex');
/** Bounds every wait on the page: a refresh is due every 2 s. */
const WAIT_MS = 15_000;

describe('the dashboard in Chromium', { timeout: 240_000 }, () => {
  let node: VergeProcess;
  let dataDir: string;
  let browser: Browser;
  let page: Page;
  let shots: string;
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

  async function shot(name: string): Promise<void> {
    await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
  }

  async function signIn(token: string): Promise<void> {
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)`);
    const dir = writeApp('shop', { count: { route: '/count', wasm: await counter('default'), extra: 'key_value_stores = ["default"]' } });
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
    // The trace and log panes say what they wait for rather than showing anything.
    assert.match(details, /does not record traces yet/);
    assert.match(details, /no logs API yet \(GET \/v1\/logs\)/);
    await shot('3-request-details');
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
    const pool = await page.getByRole('region', { name: 'Worker pool' }).innerText();
    assert.match(pool, /Workers\s+\d+/);
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
