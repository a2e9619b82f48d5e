import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestScope } from '../sandbox/scope.js';
import type { HostBridge } from '../dispatch/host-bridge.js';
import { createComponentImports } from './guest-imports.js';
import { LineSink } from '../sandbox/output.js';
import type { ComponentGrants, HostCallRequest } from '../dispatch/protocol.js';
import type { FutureIncomingResponse, OutgoingTypes } from '../sandbox/component/wasi-http.js';
import { Fields } from '../sandbox/component/wasi-http.js';

const grants = (maxRequestBodyBytes: number): ComponentGrants => ({ kvStores: [], variables: [], outbound: { maxRequestBodyBytes, maxResponseBytes: 1024, chains: [] } });

/** A worker's component imports over a bridge that records each call and answers 200. */
function harness() {
  const calls: HostCallRequest[] = [];
  const bridge = {
    call(request: HostCallRequest) {
      calls.push(request);
      return { status: 200, headers: [], body: new TextEncoder().encode(`answer for ${request.requestId}`) };
    },
  } as unknown as HostBridge;
  const scope = new GuestScope(() => undefined, bridge, () => {});
  const sink = new LineSink(() => {});
  const imports = createComponentImports(scope, { stdout: sink, stderr: sink });
  const types = imports['wasi:http/types'] as unknown as OutgoingTypes;
  const outgoing = imports['wasi:http/outgoing-handler'] as { handle(r: unknown, o: unknown): { tag: 'ok'; val: FutureIncomingResponse } };
  const request = () => {
    const r = new types.OutgoingRequest(new Fields());
    r.setScheme({ tag: 'HTTPS' });
    r.setAuthority('api.example.com');
    return r;
  };
  return { scope, calls, types, outgoing, request };
}

describe('component imports and the request being served', () => {
  test('an outgoing request started in one request of a reused instance cannot be read in the next', () => {
    const h = harness();
    h.scope.begin({ id: 'req-1', version: 'v1', component: 'api', grants: grants(1024) });
    const future = h.outgoing.handle(h.request(), undefined).val;
    h.scope.end();
    h.scope.begin({ id: 'req-2', version: 'v1', component: 'api', grants: grants(1024) });
    const got = future.get();
    h.scope.end();
    assert.equal(got?.tag, 'ok');
    const inner = got!.tag === 'ok' ? got!.val : undefined;
    assert.equal(inner?.tag, 'err');
    assert.match(JSON.stringify(inner), /started by an earlier inbound request/);
    assert.equal(h.calls.length, 0, 'no outbound call was made on behalf of (and billed to) req-2');
  });

  test('within its own request the outgoing request goes out, billed to that request', () => {
    const h = harness();
    h.scope.begin({ id: 'req-1', version: 'v1', component: 'api', grants: grants(1024) });
    const got = h.outgoing.handle(h.request(), undefined).val.get();
    h.scope.end();
    assert.equal(got?.tag === 'ok' && got.val.tag, 'ok');
    assert.deepEqual(h.calls.map((c) => [c.requestId, c.version, c.op]), [['req-1', 'v1', 'http']]);
  });

  test("an outgoing request body is capped by the component's outbound limit, per request", () => {
    const h = harness();
    const write = (bytes: number) => {
      const body = h.request().body();
      assert.equal(body.tag, 'ok');
      const stream = body.tag === 'ok' ? body.val.write() : undefined;
      return stream?.tag === 'ok' ? stream.val.write(new Uint8Array(bytes)).tag : 'no stream';
    };
    h.scope.begin({ id: 'small', version: 'v1', component: 'a', grants: grants(16) });
    assert.equal(write(16), 'ok');
    assert.equal(write(17), 'err');
    h.scope.end();
    h.scope.begin({ id: 'large', version: 'v1', component: 'b', grants: grants(64) });
    assert.equal(write(17), 'ok');
    h.scope.end();
  });

  test("a response body is capped by the serving component's max_response_bytes, per request", () => {
    const h = harness();
    const write = (bytes: number) => {
      const body = new h.types.OutgoingResponse(new Fields()).body();
      const stream = body.tag === 'ok' ? body.val.write() : undefined;
      return stream?.tag === 'ok' ? stream.val.write(new Uint8Array(bytes)).tag : 'no stream';
    };
    h.scope.begin({ id: 'tight', version: 'v1', component: 'a', grants: grants(16), maxResponseBytes: 8 });
    assert.equal(write(9), 'err');
    h.scope.end();
    h.scope.begin({ id: 'roomy', version: 'v1', component: 'b', grants: grants(16), maxResponseBytes: 100 });
    assert.equal(write(9), 'ok');
    h.scope.end();
  });
});
