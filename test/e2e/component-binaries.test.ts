/**
 * Component binaries as other toolchains write them, and the two ComponentizeJS handler forms,
 * through the real CLI: what `verge check` and `verge up` make of each.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeApp } from '../support/app.js';
import { withOlderImportNameForm } from '../support/component-bytes.js';
import { fixtureComponent } from '../support/components.js';
import { runVerge, startVerge } from '../support/verge-process.js';
import { componentImportNames } from '../../src/wasm/binary.js';

const freshCache = () => ({ VERGE_CACHE_DIR: mkdtempSync(path.join(os.tmpdir(), 'verge-component-cache-')) });

describe('component binaries from other toolchains', () => {
  test('serves a component whose import names carry the older 0x01 form byte (encoders before September 2024)', async () => {
    const portable = await fixtureComponent('portable');
    const names = componentImportNames(portable);
    assert.ok(names.includes('wasi:http/types@0.2.10'), names.join(', '));
    const older = withOlderImportNameForm(portable, names);
    assert.notDeepEqual(older, portable);
    assert.deepEqual(componentImportNames(older), names);

    const dir = writeApp('older-names', { older: { route: '/...', wasm: older } });
    const env = freshCache();
    const check = await runVerge(['check', dir], { env });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /ok {2}older: wasi:http component, /);
    const node = await startVerge(dir, [], { env });
    try {
      const res = await fetch(`${node.url}/health`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { status: 'ok' });
    } finally {
      await node.stop();
    }
  });
});

describe('ComponentizeJS handler forms and instance_reuse', () => {
  test('refuses instance_reuse > 1 for a fetch-event handler, explaining why and what to change', async () => {
    const probe = await fixtureComponent('probe');
    const dir = writeApp('fetch-reuse', { events: { route: '/...', wasm: probe, extra: 'instance_reuse = 2' } });
    const check = await runVerge(['check', dir], { env: freshCache() });
    assert.equal(check.code, 1);
    assert.match(check.stderr, /component events \(.*events\.wasm\): instance_reuse = 2 cannot work for this component: it is a fetch-event handler/);
    assert.match(check.stderr, /respondWith can't be called twice/);
    assert.match(check.stderr, /Remove instance_reuse .* or export incomingHandler instead of listening for fetch events \(docs\/typescript\.md\)/);
  });

  test('tells the two forms apart: a fetch-event handler gets no reuse advice, an incomingHandler one may reuse', async () => {
    const [probe, counter] = await Promise.all([fixtureComponent('probe'), fixtureComponent('counter')]);
    const dir = writeApp('forms', {
      events: { route: '/e/...', wasm: probe },
      exported: { route: '/x/...', wasm: counter, extra: 'instance_reuse = 2\nkey_value_stores = ["default"]' },
    });
    const check = await runVerge(['check', dir], { env: freshCache() });
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stderr, /ok {2}events: wasi:http component \(fetch-event handler\), .*a fresh instance per request/);
    assert.match(check.stderr, /ok {2}exported: wasi:http component, .*instance_reuse 2/);
    assert.doesNotMatch(check.stderr, /warn {2}events/);
  });
});
