/** Builds examples/hello-rust with Debian's Rust toolchain through `verge build` and serves it. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { buildAndServe, type VergeProcess } from '../../../test/support/verge-process.js';

const APP = fileURLToPath(new URL('../../../../examples/hello-rust', import.meta.url));

describe('examples/hello-rust', () => {
  let node: VergeProcess;
  before(async () => {
    node = await buildAndServe(APP);
  });
  after(async () => {
    await node?.stop();
  });

  test('GET /api/hello greets from Rust', async () => {
    const res = await fetch(`${node.url}/api/hello`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { message: 'Hello from Rust!' });
  });

  test('GET /api/health reports ok', async () => {
    assert.deepEqual(await (await fetch(`${node.url}/api/health`)).json(), { status: 'ok' });
  });

  test('anything else answers 404 JSON', async () => {
    const res = await fetch(`${node.url}/api/other`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: string }).error, 'NOT_FOUND');
  });
});
