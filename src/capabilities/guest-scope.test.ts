import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Status } from './abi.js';
import { createVergeImports } from './guest-imports.js';
import { GuestScope } from './guest-scope.js';
import { HostBridge, createBridgeEnds } from './host-bridge.js';
import { KV_LIMITS } from './kv/limits.js';
import { WorkerStores } from './kv/worker-stores.js';

describe('GuestScope store handles', () => {
  const ends = createBridgeEnds();
  after(() => {
    ends.mainPort.close();
    ends.workerPort.close();
  });
  const memory = new WebAssembly.Memory({ initial: 1 });
  const scope = new GuestScope(() => memory, new HostBridge(ends.workerPort, ends.signal), new WorkerStores(() => {}), () => {});
  const kvOpen = createVergeImports(scope).kv_open as unknown as (ptr: number, len: number) => number;
  const name = new TextEncoder().encode('default');
  new Uint8Array(memory.buffer).set(name, 0);
  const begin = () => scope.begin('req', 'api', { kvStores: [{ name: 'default', backend: 'memory', file: undefined }], variables: [], outbound: false });

  test('a guest that calls kv_open in a loop gets LIMIT_EXCEEDED past the per-request cap instead of growing the handle table', () => {
    begin();
    for (let i = 0; i < KV_LIMITS.maxStoreHandles; i++) assert.equal(kvOpen(0, name.length), i);
    assert.equal(kvOpen(0, name.length), Status.LIMIT_EXCEEDED);
    scope.end();
  });

  test('the next request starts with no handles open', () => {
    begin();
    assert.equal(kvOpen(0, name.length), 0);
    scope.end();
  });
});
