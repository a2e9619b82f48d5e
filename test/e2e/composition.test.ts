/**
 * Composition (docs/composition.md) end to end, on `verge up` with one worker, so every chained
 * call needs the pool to lend a waiting worker's place: service chaining from a wasi:http
 * component (the probe's fetch) and from WAGI modules (verge:v1 http_send), and a route's
 * middleware (a component in the fetch-event form) in front of a WAGI component.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { writeApp } from '../support/app.js';
import { waitFor } from '../support/wait.js';
import { fetchTimes, fetcher } from '../support/capability-guests.js';
import { fixtureComponent } from '../support/components.js';
import { environmentEcho, parseEnvironment, respondWith, wat, FD_WRITE } from '../support/wat.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';

/** The probe's /fetch answer: what its outbound call got. */
interface Fetched {
  status?: number;
  body?: string;
  error?: string;
}

async function probeFetch(node: VergeProcess, caller: string, url: string): Promise<{ status: number; got: Fetched; requestId: string }> {
  const res = await fetch(`${node.url}/${caller}/fetch?url=${encodeURIComponent(url)}`);
  return { status: res.status, got: (await res.json()) as Fetched, requestId: res.headers.get('x-request-id') ?? '' };
}

/** A raw HTTP/1.1 request, so the Host header and the request target are exactly as given. */
function rawRequest(url: string, target: string, host: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: target, headers: { host }, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const DEPTH = 11;

describe('service chaining', () => {
  let node: VergeProcess;

  before(async () => {
    const probe = await fixtureComponent('probe');
    const hello = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nhello from the end')} (func (export "_start") (call $respond)))`);
    const trap = await wat('(module (memory 1) (func (export "_start") unreachable))');
    // d1 → d2 → … → d11, each a WAGI module GETting the next through the variable naming it.
    const chain: Record<string, { wasm: Uint8Array; route: string; extra?: string }> = {};
    const variables: string[] = [];
    for (let i = 1; i < DEPTH; i++) {
      chain[`d${i}`] = { wasm: await fetcher(`next_d${i}`), route: `/d${i}`, extra: `variables = ["next_d${i}"]\nallowed_outbound_hosts = ["http://d${i + 1}.verge.internal"]` };
      variables.push(`next_d${i} = { default = "http://d${i + 1}.verge.internal/" }`);
    }
    chain[`d${DEPTH}`] = { wasm: hello, route: `/d${DEPTH}` };
    const dir = writeApp(
      'comp',
      {
        gw: { wasm: probe, route: '/gw/...', limits: 'timeout_ms = 20000', extra: 'allowed_outbound_hosts = ["http://auth.verge.internal", "http://users.verge.internal", "http://trap.verge.internal", "http://quick.verge.internal"]' },
        short: { wasm: probe, route: '/short/...', limits: 'timeout_ms = 1500', extra: 'allowed_outbound_hosts = ["http://auth.verge.internal"]' },
        any: { wasm: probe, route: '/any/...', extra: 'allowed_outbound_hosts = ["http://*.verge.internal"]' },
        // Spends a chain's outbound budget: it is called once, then calls hello 60 times.
        spender: { wasm: await fetchTimes('to_hello', 60), route: '/spender', extra: 'variables = ["to_hello"]\nallowed_outbound_hosts = ["http://hello.verge.internal"]' },
        wide: { wasm: probe, route: '/wide/...', extra: 'allowed_outbound_hosts = ["http://*:*", "*://*.internal:*"]' },
        wagi: { wasm: await fetcher('target'), route: '/wagi', extra: 'variables = ["target"]\nallowed_outbound_hosts = ["http://*.verge.internal"]' },
        'cyc-a': { wasm: await fetcher('to_b'), route: '/cyc-a', extra: 'variables = ["to_b"]\nallowed_outbound_hosts = ["http://cyc-b.verge.internal"]' },
        'cyc-b': { wasm: await fetcher('to_a'), route: '/cyc-b', extra: 'variables = ["to_a"]\nallowed_outbound_hosts = ["http://cyc-a.verge.internal"]' },
        users: { wasm: await environmentEcho(), route: '/users/:id' },
        ...chain,
      },
      [
        '[variables]',
        'target = { default = "http://auth.verge.internal/from-wagi/echo?q=1" }',
        'to_b = { default = "http://cyc-b.verge.internal/" }',
        'to_a = { default = "http://cyc-a.verge.internal/" }',
        'to_hello = { default = "http://hello.verge.internal/" }',
        ...variables,
        '',
        // Components with no route are reached only by chaining.
        '[component.auth]\nsource = "auth.wasm"',
        '[component.trap]\nsource = "trap.wasm"',
        '[component.hello]\nsource = "hello.wasm"',
        // Its own deadline comes well before its caller's.
        '[component.quick]\nsource = "auth.wasm"\nlimits = { timeout_ms = 300 }',
      ].join('\n'),
    );
    writeFileSync(path.join(dir, 'auth.wasm'), probe);
    writeFileSync(path.join(dir, 'trap.wasm'), trap);
    writeFileSync(path.join(dir, 'hello.wasm'), hello);
    // The users route is private: chained calls only.
    const manifest = path.join(dir, 'verge.toml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('path = "/users/:id"\ncomponent = "users"\n', 'path = "/users/:id"\ncomponent = "users"\nprivate = true\n'));
    node = await startVerge(dir, ['--workers', '1'], { readyMs: 60_000 });
  });

  after(async () => {
    await node?.stop();
  });

  test('a component calls a route-less component through http://NAME.verge.internal and gets its answer, in-process', async () => {
    const { status, got, requestId } = await probeFetch(node, 'gw', 'http://auth.verge.internal/inner/echo?q=1');
    assert.equal(status, 200);
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.body!), { method: 'GET', path: '/inner/echo', query: '?q=1', contentType: null, custom: null, body: '', bodyLength: 0 });
    const line = await waitFor(() => node.logs().find((l) => l.parent_request_id === requestId && l.msg === 'chained request'), 'the chained request line');
    assert.equal(line.component, 'auth');
    assert.equal(line.chain, 'gw → auth');
  });

  test('a WAGI module chains through verge:v1 http_send the same way', async () => {
    const res = await fetch(`${node.url}/wagi`);
    const text = await res.text();
    assert.equal(res.status, 200);
    assert.match(text, /^200 /);
    assert.deepEqual(JSON.parse(text.slice(4)).path, '/from-wagi/echo');
  });

  test("the callee's log lines carry its own request id and its caller's", async () => {
    const { got, requestId } = await probeFetch(node, 'gw', 'http://auth.verge.internal/x/log?msg=chained-hello');
    assert.equal(got.status, 200);
    const record = await waitFor(() => node.logs().find((l) => l.parent_request_id === requestId && String(l.line).includes('chained-hello')), 'a guest line of the callee');
    assert.equal(record.component, 'auth');
    assert.notEqual(record.request_id, requestId);
    // The request line is written when the chained request ends, which may be after the guest's line arrived.
    await waitFor(() => node.logs().find((l) => l.msg === 'chained request' && l.request_id === record.request_id), 'the chained request line of the callee id');
  });

  test('without the grant the call is refused and nothing runs; a wildcard over every host does not grant it', async () => {
    const denied = await probeFetch(node, 'gw', 'http://cyc-a.verge.internal/');
    assert.equal(denied.status, 502);
    const wide = await probeFetch(node, 'wide', 'http://auth.verge.internal/x/echo');
    assert.equal(wide.status, 502);
    for (const [id, target] of [
      [denied.requestId, 'cyc-a'],
      [wide.requestId, 'auth'],
    ] as const) {
      const refusal = await waitFor(() => node.logs().find((l) => l.request_id === id && l.stream === 'host'), 'the refusal');
      assert.match(String(refusal.line), new RegExp(`needs "http://${target}\\.verge\\.internal" or "http://\\*\\.verge\\.internal"`));
      assert.equal(node.logs().filter((l) => l.parent_request_id === id).length, 0, 'no chained request ran');
    }
  });

  test('a Host naming *.verge.internal from outside is refused, never routed: header, absolute-form target, any case or port', async () => {
    for (const [target, host] of [
      ['/gw/echo', 'auth.verge.internal'],
      ['/gw/echo', 'AUTH.Verge.Internal:80'],
      ['/gw/echo', 'verge.internal'],
      ['http://gw.verge.internal/gw/echo', '127.0.0.1'],
    ]) {
      const res = await rawRequest(node.url, target!, host!);
      assert.equal(res.status, 400, `${target} with host ${host}`);
      assert.equal(JSON.parse(res.body).error, 'RESERVED_HOST');
    }
  });

  test('a private route is unreachable from outside and reached by a chained call, routed by its pattern', async () => {
    assert.equal((await fetch(`${node.url}/users/7`)).status, 404);
    const { got } = await probeFetch(node, 'gw', 'http://users.verge.internal/users/7?full=1');
    assert.equal(got.status, 200);
    const env = parseEnvironment(got.body!);
    assert.equal(env.X_MATCHED_ROUTE, '/users/:id');
    assert.equal(env.X_VERGE_PARAM_ID, '7');
    assert.equal(env.QUERY_STRING, 'full=1');
    assert.equal(env.HTTP_HOST, 'users.verge.internal');
    assert.equal(env.SERVER_NAME, 'users.verge.internal');
  });

  test(`a chain of ${DEPTH - 1} components runs on a one-worker pool; one more is refused at the depth limit`, async () => {
    const ten = await fetch(`${node.url}/d2`);
    assert.equal(ten.status, 200);
    assert.equal(await ten.text(), `${'200 '.repeat(DEPTH - 2)}hello from the end`);
    const eleven = await fetch(`${node.url}/d1`);
    // d10's call to d11 failed with LIMIT_EXCEEDED (error:4); each caller above passed it up.
    assert.equal(await eleven.text(), `${'200 '.repeat(DEPTH - 3)}500 error:4`);
    const refusal = await waitFor(() => node.logs().find((l) => l.component === 'd10' && String(l.line).includes('at most 10 components deep')), 'the depth refusal');
    assert.match(String(refusal.line), /d1 → d2 → d3 → d4 → d5 → d6 → d7 → d8 → d9 → d10 → d11/);
  });

  test('a cycle is refused: a component appears once in a chain', async () => {
    const res = await fetch(`${node.url}/cyc-a`);
    // cyc-b's call back to cyc-a failed with LIMIT_EXCEEDED (error:4), which cyc-a passed on.
    assert.equal(await res.text(), '500 error:4');
    await waitFor(() => node.logs().find((l) => l.component === 'cyc-b' && String(l.line).includes('a cycle: cyc-a → cyc-b → cyc-a')), 'the cycle refusal');
  });

  test("a callee trap is a 500 response to its caller, which goes on and answers", async () => {
    const { status, got } = await probeFetch(node, 'gw', 'http://trap.verge.internal/');
    assert.equal(status, 200);
    assert.equal(got.status, 500);
    assert.equal(JSON.parse(got.body!).error, 'GUEST_TRAP');
  });

  test("a callee that loops is stopped at its caller's deadline, and the client gets 504 in time", async () => {
    const t0 = Date.now();
    const res = await fetch(`${node.url}/short/fetch?url=${encodeURIComponent('http://auth.verge.internal/x/loop')}`);
    const elapsed = Date.now() - t0;
    assert.equal(res.status, 504);
    assert.ok(elapsed < 5000, `answered after ${elapsed} ms (the caller's timeout_ms is 1500)`);
    const parent = res.headers.get('x-request-id');
    const line = await waitFor(() => node.logs().find((l) => l.parent_request_id === parent && l.msg === 'chained request failed'), "the callee's end");
    assert.equal(line.error, 'DEADLINE_EXCEEDED');
    assert.ok(Number(line.duration_ms) < 4000, `the callee ran ${line.duration_ms} ms`);
    // The pool is whole again: a plain request is answered.
    const after = await probeFetch(node, 'gw', 'http://auth.verge.internal/x/echo');
    assert.equal(after.got.status, 200);
  });

  test('a callee that loops past its own shorter timeout_ms answers its caller 504, and the caller goes on in the same worker', async () => {
    const replaced = () => node.logs().filter((l) => l.msg === 'worker replaced').length;
    const before = replaced();
    const t0 = Date.now();
    const { status, got, requestId } = await probeFetch(node, 'gw', 'http://quick.verge.internal/x/loop');
    const elapsed = Date.now() - t0;
    assert.equal(status, 200);
    assert.equal(got.status, 504);
    const body = JSON.parse(got.body!);
    assert.equal(body.error, 'DEADLINE_EXCEEDED');
    assert.match(body.message, /timeout_ms \(300 ms\)/);
    assert.ok(elapsed < 5000, `answered after ${elapsed} ms (the callee's timeout_ms is 300, its caller's 20000)`);
    const line = await waitFor(() => node.logs().find((l) => l.parent_request_id === requestId && l.msg === 'chained request failed'), "the callee's end");
    assert.equal(line.component, 'quick');
    assert.equal(line.error, 'DEADLINE_EXCEEDED');
    // Only the callee was stopped: no worker was replaced, and the caller's next call is served.
    assert.equal(replaced(), before);
    const again = await probeFetch(node, 'gw', 'http://quick.verge.internal/x/echo');
    assert.equal(again.got.status, 200);
  });

  test('https, a port, or a host naming no component under verge.internal is refused as an invalid URL: nothing runs, nothing leaves the node', async () => {
    for (const [url, why] of [
      ['https://auth.verge.internal/', /plain http on the default port/],
      ['http://auth.verge.internal:8080/', /plain http on the default port/],
      ['http://verge.internal/', /names no component/],
      ['http://nobody.verge.internal/', /has no component nobody/],
    ] as const) {
      const { status, requestId } = await probeFetch(node, 'any', url);
      assert.equal(status, 502, url);
      const refusal = await waitFor(() => node.logs().find((l) => l.request_id === requestId && l.stream === 'host'), `the refusal of ${url}`);
      assert.match(String(refusal.line), why);
      assert.equal(node.logs().filter((l) => l.parent_request_id === requestId).length, 0, 'no chained request ran');
    }
  });

  test("every request of a chain spends the inbound request's outbound budget: 50 calls in all, then LIMIT_EXCEEDED", async () => {
    // any → spender (1 call), then spender → hello: 49 calls succeed, the 50th of its own is the chain's 51st.
    const { status, got, requestId } = await probeFetch(node, 'any', 'http://spender.verge.internal/');
    assert.equal(status, 200);
    assert.equal(got.status, 200);
    assert.equal(got.body, '49 error:4');
    const spender = await waitFor(() => node.logs().find((l) => l.parent_request_id === requestId && l.msg === 'chained request'), "spender's line");
    await waitFor(() => node.logs().find((l) => l.request_id === spender.request_id && String(l.line).includes('at most 50 outbound requests per request')), 'the refusal');
    assert.equal(node.logs().filter((l) => l.parent_request_id === spender.request_id && l.msg === 'chained request').length, 49);
  });

  test('a component that is no middleware has nothing next', async () => {
    const { status, requestId } = await probeFetch(node, 'gw', 'http://next.verge.internal/');
    assert.equal(status, 502);
    await waitFor(() => node.logs().find((l) => l.request_id === requestId && String(l.line).includes('is not running as a route')), 'the refusal');
  });
});

describe('middleware', () => {
  let node: VergeProcess;

  before(async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-mw-'));
    writeFileSync(path.join(dir, 'middleware.wasm'), await fixtureComponent('middleware'));
    writeFileSync(path.join(dir, 'echo.wasm'), await environmentEcho('content-type: text/plain\nx-internal: secret\nx-kept: yes\n\n'));
    writeFileSync(
      path.join(dir, 'verge.toml'),
      `[application]
name = "mw"

[[route]]
path = "/api/..."
component = "api"
middleware = ["guard"]

[[route]]
path = "/two/..."
component = "api"
middleware = ["guard", "second"]

[[route]]
path = "/spin/..."
component = "api"
middleware = ["spinner"]

[component.api]
source = "echo.wasm"

[component.guard]
source = "middleware.wasm"

[component.second]
source = "middleware.wasm"

[component.spinner]
source = "middleware.wasm"
limits = { timeout_ms = 1500 }
`,
    );
    node = await startVerge(dir, ['--workers', '1'], { readyMs: 60_000 });
  });

  after(async () => {
    await node?.stop();
  });

  const chainedUnder = (requestId: string | null) => node.logs().filter((l) => l.msg?.toString().startsWith('chained request') && l.parent_request_id === requestId);

  test('a middleware passes the request on, with headers added and removed, and the response back, changed', async () => {
    const res = await fetch(`${node.url}/api/users/7?full=1`, { method: 'POST', headers: { 'x-secret': 'hunter2', 'x-custom': 'kept', 'content-type': 'text/plain' }, body: 'hello body' });
    assert.equal(res.status, 200);
    const env = parseEnvironment(await res.text());
    assert.equal(env.REQUEST_METHOD, 'POST');
    assert.equal(env.REQUEST_URI, '/api/users/7?full=1');
    assert.equal(env.X_MATCHED_ROUTE, '/api/...');
    assert.equal(env.PATH_INFO, '/users/7');
    assert.equal(env.CONTENT_LENGTH, '10');
    assert.equal(env.HTTP_X_USER, 'ada');
    assert.equal(env.HTTP_X_HOPS, '1');
    assert.equal(env.HTTP_X_CUSTOM, 'kept');
    assert.equal(env.HTTP_X_SECRET, undefined);
    // The component still serves the client's request: its host and address.
    assert.match(env.HTTP_HOST!, /^127\.0\.0\.1:\d+$/);
    assert.equal(env.REMOTE_ADDR, '127.0.0.1');
    assert.equal(res.headers.get('x-kept'), 'yes');
    assert.equal(res.headers.get('x-internal'), null);
    assert.equal(res.headers.get('x-hops-back'), '1');
    const [line] = await waitFor(() => {
      const lines = chainedUnder(res.headers.get('x-request-id'));
      return lines.length > 0 ? lines : undefined;
    }, 'the component request');
    assert.equal(line!.chain, 'guard → api');
  });

  test('middleware run in order, each passing on to the next, and the answers come back through them', async () => {
    const res = await fetch(`${node.url}/two/x`);
    const env = parseEnvironment(await res.text());
    assert.equal(env.HTTP_X_HOPS, '2');
    assert.equal(res.headers.get('x-hops-back'), '2');
    await waitFor(() => node.logs().find((l) => l.chain === 'guard → second → api'), 'the chain guard → second → api');
  });

  test('a middleware that answers itself short-circuits: the component never runs', async () => {
    const res = await fetch(`${node.url}/api/users`, { headers: { 'x-deny': '1' } });
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'denied by middleware\n');
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
    await waitFor(() => node.logs().find((l) => l.request_id === res.headers.get('x-request-id') && l.msg === 'request'), 'the access line');
    assert.deepEqual(chainedUnder(res.headers.get('x-request-id')), []);
  });

  test('a middleware that loops ends at its deadline with 504, and the component never runs', async () => {
    const t0 = Date.now();
    const res = await fetch(`${node.url}/spin/spin`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: string }).error, 'DEADLINE_EXCEEDED');
    assert.ok(Date.now() - t0 < 5000, 'the 504 came in time');
    assert.deepEqual(chainedUnder(res.headers.get('x-request-id')), []);
    // The route works again at once.
    assert.equal((await fetch(`${node.url}/spin/ok`)).status, 200);
  });
});

describe('traces of a chain', () => {
  let receiver: OtlpReceiver;
  let node: VergeProcess;

  before(async () => {
    receiver = await startOtlpReceiver();
    const probe = await fixtureComponent('probe');
    const dir = writeApp('traced-chain', { gw: { wasm: probe, route: '/gw/...', extra: 'allowed_outbound_hosts = ["http://auth.verge.internal"]\ntrace_propagation = false' } }, '[component.auth]\nsource = "auth.wasm"');
    writeFileSync(path.join(dir, 'auth.wasm'), probe);
    node = await startVerge(dir, ['--workers', '1'], { env: { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, readyMs: 60_000 });
  });

  after(async () => {
    await node?.stop();
    await receiver?.close();
  });

  test("the callee's spans nest under its caller's client span, in one trace, even with trace_propagation off", async () => {
    const { got, requestId } = await probeFetch(node, 'gw', 'http://auth.verge.internal/x/echo');
    assert.equal(got.status, 200);
    const byRequest = (spans: ReceivedSpan[], id: string) => spans.find((s) => s.kind === 2 && s.attributes['verge.request_id'] === id);
    const spans = await receiver.waitFor((all) => {
      const callee = all.find((s) => s.kind === 2 && s.attributes['verge.parent_request_id'] === requestId);
      return byRequest(all, requestId) !== undefined && callee !== undefined && all.some((s) => s.parentSpanId === callee.spanId && s.name === 'execute');
    }, 10_000);
    const callerServer = byRequest(spans, requestId)!;
    const callee = spans.find((s) => s.kind === 2 && s.attributes['verge.parent_request_id'] === requestId)!;
    const client = spans.find((s) => s.spanId === callee.parentSpanId)!;
    assert.ok(client, "the callee's server span has a parent among the exported spans");
    assert.equal(client.kind, 3, 'its parent is a client span');
    assert.equal(client.attributes['server.address'], 'auth.verge.internal');
    const callerExecute = spans.find((s) => s.spanId === client.parentSpanId)!;
    assert.equal(callerExecute.name, 'execute');
    assert.equal(callerExecute.parentSpanId, callerServer.spanId);
    assert.equal(new Set([callerServer.traceId, client.traceId, callee.traceId]).size, 1, 'one trace');
    assert.equal(callee.attributes['verge.component'], 'auth');
    assert.equal(callee.attributes['http.response.status_code'], 200);
  });
});
