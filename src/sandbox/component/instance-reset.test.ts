import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { prepareComponent } from '../../loader/component.js';
import { createComponentImports } from '../../capabilities/guest-imports.js';
import { createBridgeEnds, HostBridge, type BridgeEnds } from '../../dispatch/host-bridge.js';
import type { ComponentModuleSpec, GuestRequest } from '../../dispatch/protocol.js';
import { fixtureComponent } from '../../../test/support/components.js';
import { guestRequest } from '../../../test/support/guest-request.js';
import { MemoryRecycler } from '../memory-recycler.js';
import { LineSink } from '../output.js';
import { GuestScope } from '../scope.js';
import { ComponentRunner } from './runner.js';
import type { InstanceReset } from './instance-reset.js';

/** What these tests read of a runner's instances (private to the runner). */
interface RunnerInside {
  next: { handler: { handle(r: unknown, o: unknown): void }; memories: Array<{ memory: WebAssembly.Memory }>; reset: InstanceReset | undefined } | undefined;
  resettable: boolean;
}
const inside = (r: ComponentRunner) => r as unknown as RunnerInside;

/** Has the instance's handler note a WeakRef of every request it is given (and hold nothing else of the test's). */
function watchRequests(instance: NonNullable<RunnerInside['next']>, kept: Array<WeakRef<object>>): void {
  const handler = instance.handler;
  instance.handler = {
    handle: (request, out) => {
      kept.push(new WeakRef(request as object));
      handler.handle(request, out);
    },
  };
}

function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  try {
    (vm.runInNewContext('gc') as () => void)();
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

describe('resetting a component instance instead of making a new one', () => {
  const cacheRoot = mkdtempSync(path.join(os.tmpdir(), 'verge-reset-cache-'));
  let spec: ComponentModuleSpec;
  let ends: BridgeEnds;
  let scope: GuestScope;
  let imports: Record<string, unknown>;

  before(async () => {
    const prepared = await prepareComponent(await fixtureComponent('counter'), { component: 'counter', where: 'counter', capPages: 1024, instanceReuse: 1, maxResponseBytes: 65536, cacheRoot });
    spec = { ...prepared.spec, grants: { kvStores: [], variables: [], outbound: false } };
    ends = createBridgeEnds();
    scope = new GuestScope(() => undefined, new HostBridge(ends.workerPort, ends.signal), () => {});
    const sink = new LineSink(() => {});
    imports = createComponentImports(scope, { stdout: sink, stderr: sink });
  });

  after(() => {
    ends.mainPort.close();
    ends.workerPort.close();
    rmSync(cacheRoot, { recursive: true, force: true });
  });

  async function runner(reuse = 1): Promise<ComponentRunner> {
    return ComponentRunner.load({ ...spec, instanceReuse: reuse }, imports, new MemoryRecycler());
  }

  /** One request through the runner as a worker serves it: run, then the next instance is made (or reset). */
  function serve(r: ComponentRunner, action: string): Record<string, unknown> {
    const req: GuestRequest = { ...guestRequest(action, 'counter'), url: `/${action}` };
    scope.begin({ id: req.id, version: 'v1', component: 'counter', grants: spec.grants });
    try {
      const res = r.run(req);
      assert.equal(res.status, 200, Buffer.from(res.body).toString());
      return JSON.parse(Buffer.from(res.body).toString()) as Record<string, unknown>;
    } finally {
      scope.end();
      r.prepareNext();
    }
  }

  test('gives the next request the instance back with every byte, global and table entry a new instance has', async () => {
    const r = await runner();
    r.prepareNext();
    assert.equal(inside(r).resettable, true, 'the counter (ComponentizeJS) can be reset');
    const reset = inside(r).next!.reset!;
    const memory = inside(r).next!.memories[0]!.memory;
    for (let i = 0; i < 3; i++) serve(r, `keep`);
    assert.equal(inside(r).next!.reset, reset, 'the same instance came back: it was reset, not made again');
    assert.deepEqual(reset.differences(), [], 'memory, globals and tables are as they were after instantiation');
    // And that state is a new instance's, byte for byte.
    const other = await runner();
    other.prepareNext();
    const fresh = new Uint8Array(inside(other).next!.memories[0]!.memory.buffer);
    assert.equal(Buffer.compare(new Uint8Array(memory.buffer), fresh), 0, "the reset memory differs from a new instance's");
  });

  test('JS state a request leaves in module variables is not seen by the next request', async () => {
    const r = await runner();
    for (let i = 0; i < 4; i++) assert.deepEqual(serve(r, 'keep'), { served: 1, kept: 2 });
  });

  test('a resource a request kept open is released with it, not carried in the glue to the next request', async () => {
    const r = await runner();
    r.prepareNext();
    const kept: Array<WeakRef<object>> = [];
    const memory = inside(r).next!.memories[0]!.memory;
    watchRequests(inside(r).next!, kept);
    assert.deepEqual(serve(r, 'keep'), { served: 1, kept: 2 });
    assert.equal(inside(r).next!.memories[0]!.memory, memory, 'the instance was reset');
    serve(r, 'x');
    // A WeakRef holds its target until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    assert.equal(kept[0]!.deref(), undefined, "the request the guest kept is still reachable: the glue's handle table survived the reset");
  });

  test('instance_reuse keeps its meaning: N requests share state, then the instance is reset', async () => {
    const r = await runner(3);
    const served = [];
    for (let i = 0; i < 7; i++) served.push(serve(r, 'x').served);
    assert.deepEqual(served, [1, 2, 3, 1, 2, 3, 1]);
  });
});
