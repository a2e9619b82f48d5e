import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { GuestScope } from './scope.js';
import type { HostBridge } from '../dispatch/host-bridge.js';
import type { ComponentGrants, FromWorker, RunMeasures } from '../dispatch/protocol.js';
import { GUEST_LOG_LIMITS } from '../capabilities/logging/levels.js';
import { Status } from '../capabilities/abi.js';
import { createComponentImports, createVergeImports } from '../capabilities/guest-imports.js';
import { KV_LIMITS } from '../capabilities/kv/limits.js';
import { variablesAccess } from '../capabilities/variables/access.js';
import { kvAccess } from '../capabilities/kv/access.js';
import { outboundAccess } from '../capabilities/outbound-http/access.js';
import { describeHostCallCode } from '../telemetry/host-call-codes.js';
import { LineSink } from './output.js';

const grants = (variable: string): ComponentGrants => ({ kvStores: [], variables: [{ name: variable, value: 'v', secret: false }], outbound: false });

function scope() {
  const posted: FromWorker[] = [];
  const s = new GuestScope(() => undefined, {} as HostBridge, (m) => posted.push(m));
  return { s, posted, logs: (id: string) => posted.filter((m) => m.t === 'log' && m.id === id) };
}

describe('guest scope: a stack of request frames', () => {
  test('a nested request sees its own grants, and its caller’s come back when it ends', () => {
    const { s } = scope();
    s.begin({ id: 'outer', version: 'v1', component: 'a', grants: grants('for_a') });
    s.begin({ id: 'inner', version: 'v1', component: 'b', grants: grants('for_b') });
    assert.equal(s.frame.component, 'b');
    assert.equal(s.grants.variables[0]!.name, 'for_b');
    s.end();
    assert.equal(s.frame.id, 'outer');
    assert.equal(s.grants.variables[0]!.name, 'for_a');
    s.end();
    assert.equal(s.depth, 0);
    assert.throws(() => s.frame, /no request is being served/);
  });

  test('a run stopped from outside has its frames ended down to its caller’s and the worker’s repairs run', () => {
    const { s } = scope();
    let repaired = 0;
    s.onInterrupted(() => repaired++);
    s.begin({ id: 'caller', version: 'v1', component: 'a', grants: grants('for_a') });
    const callee = s.begin({ id: 'callee', version: 'v1', component: 'b', grants: grants('for_b') });
    let closed = false;
    callee.atEnd(() => (closed = true));
    s.begin({ id: 'its-callee', version: 'v1', component: 'c', grants: grants('for_c') });
    s.interrupted(1);
    assert.equal(s.depth, 1);
    assert.equal(s.frame.id, 'caller');
    assert.equal(callee.live, false);
    assert.equal(closed, true);
    assert.equal(repaired, 1);
  });

  test('a nested request cannot spend its caller’s log budget', () => {
    const { s, logs } = scope();
    s.begin({ id: 'outer', version: 'v1', component: 'a', grants: grants('x') });
    s.log('info', 'before');
    s.begin({ id: 'inner', version: 'v1', component: 'b', grants: grants('x') });
    for (let i = 0; i < GUEST_LOG_LIMITS.maxRecords + 5; i++) s.log('info', 'flood');
    s.end();
    s.log('info', 'after');
    assert.deepEqual(logs('outer').map((m) => m.t === 'log' && m.line), ['before', 'after']);
    assert.equal(logs('inner').length, GUEST_LOG_LIMITS.maxRecords + 1, 'the budget, then one truncation notice');
  });

  test('per-request handles are the frame’s own, and a frame is no longer live once it ended', () => {
    const { s } = scope();
    const outer = s.begin({ id: 'outer', version: 'v1', component: 'a', grants: grants('x') });
    s.frame.local('h', () => ['outer handle']);
    const inner = s.begin({ id: 'inner', version: 'v2', component: 'b', grants: grants('x') });
    assert.deepEqual(s.frame.local('h', () => ['inner handle']), ['inner handle']);
    s.end();
    assert.equal(inner.live, false);
    assert.equal(outer.live, true);
    assert.deepEqual(s.frame.local('h', () => ['new']), ['outer handle']);
  });

  test('per-worker state is made once and shared by every frame', () => {
    const { s } = scope();
    let made = 0;
    s.begin({ id: 'a', version: 'v1', component: 'a', grants: grants('x') });
    const first = s.worker('stores', () => ({ n: ++made }));
    s.end();
    s.begin({ id: 'b', version: 'v1', component: 'b', grants: grants('x') });
    assert.equal(s.worker('stores', () => ({ n: ++made })), first);
    assert.equal(made, 1);
  });

  test('logging outside any request is dropped, not misattributed', () => {
    const { s, posted } = scope();
    s.log('info', 'stray');
    assert.equal(posted.length, 0);
  });
});

describe('guest scope: kv_open handles', () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const s = new GuestScope(() => memory, {} as HostBridge, () => {});
  const kvOpen = createVergeImports(s).kv_open as unknown as (ptr: number, len: number) => number;
  const name = new TextEncoder().encode('default');
  new Uint8Array(memory.buffer).set(name, 0);
  const begin = () => s.begin({ id: 'req', version: 'v1', component: 'api', grants: { kvStores: [{ name: 'default', backend: 'memory', address: undefined }], variables: [], outbound: false } });

  test('a guest that calls kv_open in a loop gets LIMIT_EXCEEDED past the per-request cap instead of growing the handle table', () => {
    begin();
    for (let i = 0; i < KV_LIMITS.maxStoreHandles; i++) assert.equal(kvOpen(0, name.length), i);
    assert.equal(kvOpen(0, name.length), Status.LIMIT_EXCEEDED);
    s.end();
  });

  test('the next request starts with no handles open', () => {
    begin();
    assert.equal(kvOpen(0, name.length), 0);
    s.end();
  });
});

describe('guest scope: spans of a sampled request', () => {
  const trace = (sampled: boolean) => ({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', serverSpanId: '1111111111111111', spanId: '2222222222222222', sampled, tracestate: undefined, admittedAt: Date.now() - 5 });

  test('each host call is a span under the execution span with its outcome, a guest log record an event, and a variable span names no value', () => {
    const { s } = scope();
    const frame = s.begin({ id: 'r', version: 'v1', component: 'a', grants: grants('greeting'), trace: trace(true) });
    frame.spans!.queued();
    frame.spans!.startGuest();
    const variables = variablesAccess(s);
    assert.equal(variables.get('greeting'), 'v');
    assert.throws(() => variables.get('other'), /not granted/);
    s.log('info', 'hello');
    const records = frame.spans!.finish();
    s.end();
    const [queued, execute, granted, denied] = records;
    assert.equal(queued!.parent, '1111111111111111');
    assert.equal(execute!.id, '2222222222222222', 'the id the guest was given');
    assert.deepEqual([granted!.parent, granted!.attributes, granted!.error], ['2222222222222222', { 'verge.variable.name': 'greeting', 'verge.outcome': 'OK' }, undefined]);
    assert.deepEqual([denied!.attributes['verge.outcome'], denied!.error], ['ACCESS_DENIED', 'ACCESS_DENIED']);
    assert.ok(!JSON.stringify(records).includes('"v"'), 'no value in any span');
    assert.deepEqual(execute!.events?.map((e) => e.attributes['log.message']), ['hello']);
    assert.ok(records.every((r) => r.end >= r.start && r.end > 0));
  });

  test('an unsampled request records no span', () => {
    const { s } = scope();
    const frame = s.begin({ id: 'r', version: 'v1', component: 'a', grants: grants('greeting'), trace: trace(false) });
    variablesAccess(s).get('greeting');
    assert.equal(frame.spans, undefined);
    s.end();
  });
});

describe('guest scope: host calls timed for every request', () => {
  /** The (capability, outcome) of each host call the worker timed, from the measures it would send back. */
  const timed = (s: GuestScope) => {
    const answer: RunMeasures = { claimedAt: 0, instantiateMs: -1, prepared: false, memoryBytes: -1 };
    s.measures.handOver(answer);
    const calls = answer.hostCalls ?? new Float64Array(0);
    const out: string[] = [];
    for (let i = 0; i < calls.length; i += 2) {
      const d = describeHostCallCode(calls[i]!)!;
      assert.ok(calls[i + 1]! >= 0 && calls[i + 1]! < 1, `a duration in seconds, got ${calls[i + 1]}`);
      out.push(`${d.capability} ${d.outcome}`);
    }
    return out;
  };

  test('a call done in the worker is timed with its capability and outcome, sampled or not', () => {
    const { s } = scope();
    s.measures.start('r', 0);
    s.begin({ id: 'r', version: 'v1', component: 'a', grants: { kvStores: [], variables: [{ name: 'set', value: 'v', secret: false }, { name: 'unset', value: undefined, secret: false }], outbound: false } });
    const variables = variablesAccess(s);
    variables.get('set');
    variables.get('unset');
    assert.throws(() => variables.get('other'), /not granted/);
    assert.throws(() => outboundAccess(s).fetch({ method: 'GET', url: 'https://example.com/', headers: [], body: new Uint8Array(0) }), /allowed_outbound_hosts/);
    s.end();
    assert.deepEqual(timed(s), ['variables ok', 'variables not_found', 'variables access_denied', 'outbound-http access_denied']);
  });

  test('a call that went over the host bridge is left to the main thread, which times it where it completes', () => {
    const bridge = { call: () => undefined } as unknown as HostBridge;
    const s = new GuestScope(() => undefined, bridge, () => {});
    s.measures.start('r', 0);
    s.begin({ id: 'r', version: 'v1', component: 'a', grants: { kvStores: [{ name: 'mem', backend: 'memory', address: undefined }], variables: [], outbound: false } });
    const kv = kvAccess(s);
    kv.byName('mem', { method: 'get', key: 'k' }, 'kv_get');
    assert.throws(() => kv.byName('other', { method: 'get', key: 'k' }, 'kv_get'), /not granted/);
    s.end();
    assert.deepEqual(timed(s), ['kv access_denied'], 'the refusal made in the worker only');
  });

  test('a log call is timed as the logging capability', () => {
    const { s } = scope();
    s.measures.start('r', 0);
    s.begin({ id: 'r', version: 'v1', component: 'a', grants: grants('x') });
    const log = createComponentImports(s, { stdout: new LineSink(() => {}), stderr: new LineSink(() => {}) })['wasi:logging/logging']!.log as (level: string, context: string, message: string) => void;
    log('info', '', 'hello');
    s.end();
    assert.deepEqual(timed(s), ['logging ok']);
  });
});

describe('guest scope: calls into a dependency', () => {
  const dep = { label: 'auth (acme:auth/verify, a dependency of api)', grants: grants('for_auth') };

  test('a call runs with the dependency’s grants, and its caller’s come back after it, even when it throws', () => {
    const { s } = scope();
    s.begin({ id: 'req', version: 'v1', component: 'api', grants: grants('for_api') });
    const inside = s.dependency(dep, 'acme:auth/verify.verify', () => [s.frame.component, variablesAccess(s).get('for_auth')]);
    assert.deepEqual(inside, [dep.label, 'v']);
    assert.throws(() => s.dependency(dep, 'acme:auth/verify.verify', () => variablesAccess(s).get('for_api')), /"for_api" is not granted to component auth \(acme:auth\/verify, a dependency of api\)/);
    assert.throws(() => s.dependency(dep, 'acme:auth/verify.verify', () => {
      throw new Error('trap');
    }), /trap/);
    assert.equal(s.frame.component, 'api');
    assert.equal(variablesAccess(s).get('for_api'), 'v');
    s.end();
  });

  test('the dependency’s frame lasts the request: what it keeps between calls stays, and it ends with its caller', () => {
    const { s } = scope();
    s.begin({ id: 'req', version: 'v1', component: 'api', grants: grants('x') });
    const first = s.dependency(dep, 'c', () => s.frame);
    s.dependency(dep, 'c', () => s.frame.local('handles', () => ['opened in the first call']));
    assert.equal(s.dependency(dep, 'c', () => s.frame), first);
    assert.deepEqual(s.dependency(dep, 'c', () => s.frame.local('handles', () => ['new'])), ['opened in the first call']);
    assert.equal(first.live, true);
    s.end();
    assert.equal(first.live, false, 'work the dependency started is refused once the request ended');
    s.begin({ id: 'next', version: 'v1', component: 'api', grants: grants('x') });
    assert.notEqual(s.dependency(dep, 'c', () => s.frame), first, 'the next request gets a frame of its own');
    s.end();
  });

  test('a dependency spends its caller’s log budget, with the request’s id', () => {
    const { s, logs } = scope();
    s.begin({ id: 'req', version: 'v1', component: 'api', grants: grants('x') });
    s.dependency(dep, 'c', () => {
      for (let i = 0; i < GUEST_LOG_LIMITS.maxRecords + 5; i++) s.log('info', 'flood');
    });
    s.log('info', 'after');
    assert.equal(logs('req').length, GUEST_LOG_LIMITS.maxRecords + 1, 'the budget, then one truncation notice: nothing after');
    s.end();
  });

  test('between requests a dependency acts for no one: its capability calls are refused', () => {
    const { s } = scope();
    assert.throws(() => s.dependency(dep, 'acme:auth/verify (instantiation)', () => variablesAccess(s).get('for_auth')), /no request is being served/);
    assert.equal(s.dependency(dep, 'c', () => 'computed'), 'computed');
  });

  test('host calls from a dependency name its parent, whose main-thread state answers them', () => {
    const calls: unknown[] = [];
    const bridge = { call: (call: unknown) => (calls.push(call), 'answer') } as unknown as HostBridge;
    const s = new GuestScope(() => undefined, bridge, () => {});
    s.begin({ id: 'req', version: 'v1', component: 'api', grants: grants('x') });
    s.dependency(dep, 'c', () => s.call({ op: 'kv', store: 'default', kv: { method: 'get', key: 'k' } }));
    assert.deepEqual(calls, [{ op: 'kv', store: 'default', kv: { method: 'get', key: 'k' }, requestId: 'req', version: 'v1', component: 'api', root: 'req' }]);
    s.end();
  });

  test('a call into a dependency is a span of a sampled request, and its host calls are spans of the same request', () => {
    const { s } = scope();
    const trace = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', serverSpanId: '1111111111111111', spanId: '2222222222222222', sampled: true, tracestate: undefined, admittedAt: Date.now() };
    const frame = s.begin({ id: 'r', version: 'v1', component: 'api', grants: grants('x'), trace });
    frame.spans!.startGuest();
    s.dependency(dep, 'acme:auth/verify.verify', () => variablesAccess(s).get('for_auth'));
    const names = frame.spans!.finish().map((r) => [r.name, r.attributes['verge.dependency'] ?? r.attributes['verge.variable.name']]);
    assert.deepEqual(names, [['execute', undefined], ['call acme:auth/verify.verify', dep.label], ['variables.get', 'for_auth']]);
    s.end();
  });
});
