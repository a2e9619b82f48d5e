/**
 * Traces end to end: the real CLI exports to a real OTLP/HTTP receiver started here, which decodes
 * what the OpenTelemetry exporter sends (protobuf and JSON). A local origin server, allowed as an
 * outbound host, records the traceparent each outbound call carries.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startVerge, type VergeProcess } from '../support/verge-process.js';
import { writeApp } from '../support/app.js';
import { kvLogFetch } from '../support/capability-guests.js';
import { environmentEcho, parseEnvironment } from '../support/wat.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedLog, type ReceivedSpan } from '../support/otlp-receiver.js';
import { fixtureComponent } from '../support/components.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const SERVER = 2;
const CLIENT = 3;

/** Export quickly: the tests wait for spans, not for the SDK's 5 s default delay. */
/**
 * What a collector in trouble must not do is make requests wait for it: that would cost each one
 * the export timeout (2 s or 60 s below). A p99 within twice the untraced one plus 250 ms rules
 * that out on a loaded machine too; what tracing costs in throughput is the bench's to measure
 * (BENCH_ONLY=tracing), not a timed test's.
 */
const NO_WAIT_SLACK_MS = 250;
const FAST_EXPORT = { OTEL_BSP_SCHEDULE_DELAY: '50', OTEL_BLRP_SCHEDULE_DELAY: '50', OTEL_SERVICE_NAME: 'verge-e2e' };

interface Origin {
  url: string;
  /** The traceparent header of each request, in order (undefined when it had none). */
  traceparents: Array<string | undefined>;
  close(): void;
}

async function startOrigin(): Promise<Origin> {
  const traceparents: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    const tp = req.headers.traceparent;
    traceparents.push(Array.isArray(tp) ? tp.join(',') : tp);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('origin');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, traceparents, close: () => server.close() };
}

async function tracedApp(origin: Origin, withComponent = false): Promise<string> {
  const extra = `key_value_stores = ["default"]\nvariables = ["target"]\nallowed_outbound_hosts = ["${origin.url}"]`;
  const wasm = await kvLogFetch('default', 'target', 'traced guest says hi');
  return writeApp(
    'traced',
    {
      work: { route: '/work', wasm, extra },
      quiet: { route: '/quiet', wasm, extra: `${extra}\ntrace_propagation = false` },
      env: { route: '/env', wasm: await environmentEcho() },
      ...(withComponent ? { probe: { route: '/probe/...', wasm: await fixtureComponent('probe'), extra } } : {}),
    },
    `[variables]\ntarget = { default = "${origin.url}/data" }`,
  );
}

/**
 * The spans of one request: its server span (found by the request id it carries) and everything
 * below it. Several requests here continue the same inbound trace, so the trace id is not enough.
 */
/**
 * Whether a /work request's spans are all in: the server span, queue wait, execute, its three host
 * calls, and `instantiate` when its instance was made on its path (`verge.instance` fresh) rather
 * than put back after an earlier request on the same worker (prepared).
 */
function workComplete(spans: ReceivedSpan[]): boolean {
  const execute = spans.find((s) => s.name === 'execute');
  return execute !== undefined && spans.length >= (execute.attributes['verge.instance'] === 'fresh' ? 7 : 6);
}

function requestSpans(spans: ReceivedSpan[], requestId: string): ReceivedSpan[] {
  const server = spans.find((s) => s.kind === SERVER && s.attributes['verge.request_id'] === requestId);
  if (!server) return [];
  const tree = [server];
  const ids = new Set([server.spanId]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const s of spans) {
      if (s.traceId === server.traceId && !ids.has(s.spanId) && ids.has(s.parentSpanId)) {
        ids.add(s.spanId);
        tree.push(s);
        grew = true;
      }
    }
  }
  return tree;
}

async function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; requestId: string }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text(), requestId: res.headers.get('x-request-id')! };
}

function assertOneTree(spans: ReceivedSpan[]): ReceivedSpan {
  const ids = new Set(spans.map((s) => s.spanId));
  const roots = spans.filter((s) => !ids.has(s.parentSpanId));
  assert.equal(roots.length, 1, `one root: ${roots.map((s) => s.name).join(', ')}`);
  return roots[0]!;
}

describe('traces exported over OTLP/HTTP protobuf', () => {
  let receiver: OtlpReceiver;
  let origin: Origin;
  let node: VergeProcess;

  before(async () => {
    receiver = await startOtlpReceiver();
    origin = await startOrigin();
    node = await startVerge(await tracedApp(origin, true), ['--workers', '2'], { env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }, readyMs: 60_000 });
  });

  after(async () => {
    await node?.stop();
    origin?.close();
    await receiver?.close();
  });

  test('an inbound traceparent is continued: the server span joins its trace under the inbound parent', async () => {
    const res = await get(`${node.url}/work`, { traceparent: `00-${TRACE}-${PARENT}-01` });
    assert.equal(res.status, 200, res.body);
    const spans = requestSpans(await receiver.waitFor((all) => workComplete(requestSpans(all, res.requestId))), res.requestId);
    const server = spans.find((s) => s.kind === SERVER)!;
    assert.equal(server.traceId, TRACE);
    assert.equal(server.parentSpanId, PARENT);
    assert.equal(server.encoding, 'protobuf');
    assert.equal(server.resource['service.name'], 'verge-e2e');
  });

  test('the spans of one request form one tree: queue wait, instantiation and execution under the server span, each host call under execution', async () => {
    const res = await get(`${node.url}/work?secret=1`);
    assert.equal(res.status, 200, res.body);
    const spans = requestSpans(await receiver.waitFor((all) => workComplete(requestSpans(all, res.requestId))), res.requestId);
    const server = assertOneTree(spans);
    assert.equal(server.kind, SERVER);
    assert.equal(server.parentSpanId, '', 'a new trace: no inbound traceparent');
    assert.equal(server.name, 'GET /work');
    assert.equal(server.attributes['http.request.method'], 'GET');
    assert.equal(server.attributes['http.route'], '/work');
    assert.equal(server.attributes['url.path'], '/work', 'the query stays out');
    assert.equal(server.attributes['http.response.status_code'], 200);
    assert.equal(server.attributes['verge.app'], 'traced');
    assert.equal(server.attributes['verge.component'], 'work');
    assert.match(String(server.attributes['verge.version']), /^[0-9a-f]{12}$/);

    const byName = (name: string) => spans.find((s) => s.name === name);
    const fresh = byName('execute')?.attributes['verge.instance'] === 'fresh';
    assert.equal(byName('instantiate') !== undefined, fresh, 'an instantiate span exactly when the instance was made on the request’s path');
    for (const name of ['queue wait', ...(fresh ? ['instantiate'] : []), 'execute']) assert.equal(byName(name)?.parentSpanId, server.spanId, name);
    const execute = byName('execute')!;
    const kv = byName('kv.increment')!;
    assert.equal(kv.parentSpanId, execute.spanId);
    assert.deepEqual(kv.attributes, { 'verge.kv.store': 'default', 'verge.kv.op': 'increment', 'verge.kv.key_size': 4, 'verge.outcome': 'OK' });
    const variable = byName('variables.get')!;
    assert.equal(variable.parentSpanId, execute.spanId);
    assert.equal(variable.attributes['verge.variable.name'], 'target');
    assert.ok(!Object.values(variable.attributes).some((v) => String(v).includes(origin.url)), 'the variable span carries no value');
    const client = spans.find((s) => s.kind === CLIENT)!;
    assert.equal(client.parentSpanId, execute.spanId);
    assert.equal(client.name, 'GET');
    assert.equal(client.attributes['server.address'], '127.0.0.1');
    assert.equal(client.attributes['http.response.status_code'], 200);
    assert.equal(client.attributes['verge.http.redirects'], 0);
    // The guest's log record is an event on its execution span.
    assert.deepEqual(
      execute.events.map((e) => [e.name, e.attributes['log.message']]),
      [['log', 'traced guest says hi']],
    );
    // Within a millisecond: worker threads read the same wall clock through their own time origin.
    for (const s of spans) assert.ok(s.startNs + 1_000_000n >= server.startNs && s.endNs <= server.endNs + 1_000_000n, `${s.name} lies within the request`);
  });

  test('the guest’s log record is exported as an OpenTelemetry log record carrying its trace and execution span', async () => {
    const res = await get(`${node.url}/work`);
    assert.equal(res.status, 200, res.body);
    const mine = (logs: ReceivedLog[]) => logs.filter((l) => l.attributes['verge.request_id'] === res.requestId);
    const [record] = mine(await receiver.waitForLogs((logs) => mine(logs).length > 0));
    const execute = requestSpans(await receiver.waitFor((all) => workComplete(requestSpans(all, res.requestId))), res.requestId).find((s) => s.name === 'execute')!;
    assert.equal(record!.body, 'traced guest says hi');
    assert.equal(record!.severityText, 'INFO');
    assert.equal(record!.severityNumber, 9);
    assert.equal(record!.encoding, 'protobuf');
    assert.deepEqual([record!.traceId, record!.spanId], [execute.traceId, execute.spanId]);
    assert.equal(record!.attributes['verge.app'], 'traced');
    assert.equal(record!.attributes['verge.component'], 'work');
    assert.equal(record!.attributes['verge.log.stream'], 'guest');
    assert.equal(record!.resource['service.name'], 'verge-e2e');
  });

  test('an outbound call to an allowed server carries a traceparent with the same trace id, naming the client span', async () => {
    const before = origin.traceparents.length;
    const res = await get(`${node.url}/work`, { traceparent: `00-${TRACE}-${PARENT}-01` });
    assert.equal(res.body, '200');
    const sent = origin.traceparents[before];
    assert.match(String(sent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    const spans = requestSpans(await receiver.waitFor((all) => requestSpans(all, res.requestId).some((s) => s.kind === CLIENT)), res.requestId);
    const client = spans.find((s) => s.kind === CLIENT)!;
    assert.equal(sent, `00-${TRACE}-${client.spanId}-01`);
  });

  test('a component with trace_propagation = false sends no traceparent, and its spans are still exported', async () => {
    const before = origin.traceparents.length;
    const res = await get(`${node.url}/quiet`);
    assert.equal(res.body, '200');
    assert.equal(origin.traceparents.length, before + 1);
    assert.equal(origin.traceparents[before], undefined);
    await receiver.waitFor((all) => requestSpans(all, res.requestId).some((s) => s.kind === CLIENT));
  });

  test('a WAGI guest sees HTTP_TRACEPARENT naming its execution span, and tracestate passes through', async () => {
    const res = await get(`${node.url}/env`, { traceparent: `00-${TRACE}-${PARENT}-01`, tracestate: 'vendor=abc' });
    const env = parseEnvironment(res.body);
    const spans = requestSpans(await receiver.waitFor((all) => requestSpans(all, res.requestId).some((s) => s.name === 'execute')), res.requestId);
    const execute = spans.find((s) => s.name === 'execute')!;
    assert.equal(env.HTTP_TRACEPARENT, `00-${TRACE}-${execute.spanId}-01`);
    assert.equal(env.HTTP_TRACESTATE, 'vendor=abc');
  });

  test('a component sees the traceparent of its execution span, and its KV and outbound calls are spans under it', async () => {
    const echo = await get(`${node.url}/probe/echo`, { traceparent: `00-${TRACE}-${PARENT}-01` });
    const seen = (JSON.parse(echo.body) as { traceparent?: string }).traceparent;
    const echoSpans = requestSpans(await receiver.waitFor((all) => requestSpans(all, echo.requestId).some((s) => s.name === 'execute')), echo.requestId);
    assert.equal(seen, `00-${TRACE}-${echoSpans.find((s) => s.name === 'execute')!.spanId}-01`);

    const kv = await get(`${node.url}/probe/kv?op=incr&key=k`);
    assert.equal(kv.status, 200, kv.body);
    const kvSpans = requestSpans(await receiver.waitFor((all) => requestSpans(all, kv.requestId).some((s) => s.name === 'kv.increment')), kv.requestId);
    const execute = kvSpans.find((s) => s.name === 'execute')!;
    assert.equal(kvSpans.find((s) => s.name === 'kv.increment')!.parentSpanId, execute.spanId);
    assert.match(String(execute.attributes['verge.instance']), /^(fresh|prepared)$/);

    const before = origin.traceparents.length;
    const fetched = await get(`${node.url}/probe/fetch?url=${encodeURIComponent(`${origin.url}/data`)}`);
    assert.equal(JSON.parse(fetched.body).status, 200, fetched.body);
    const fetchSpans = requestSpans(await receiver.waitFor((all) => requestSpans(all, fetched.requestId).some((s) => s.kind === CLIENT)), fetched.requestId);
    const client = fetchSpans.find((s) => s.kind === CLIENT)!;
    assert.equal(origin.traceparents[before], `00-${client.traceId}-${client.spanId}-01`);
  });

  test('an unsampled inbound traceparent is honoured: nothing is exported and the context passes on unsampled', async () => {
    const before = origin.traceparents.length;
    const unsampled = await get(`${node.url}/work`, { traceparent: `00-${TRACE}-${PARENT}-00` });
    assert.equal(unsampled.body, '200');
    assert.equal(origin.traceparents[before], `00-${TRACE}-${PARENT}-00`);
    // Spans leave in order: once a later request's spans are in, the unsampled one's would be too.
    const later = await get(`${node.url}/work`);
    await receiver.waitFor((all) => workComplete(requestSpans(all, later.requestId)));
    assert.deepEqual(requestSpans(receiver.spans, unsampled.requestId), []);
  });

  test('the request log line carries the trace id next to the request id', async () => {
    const res = await get(`${node.url}/work`, { traceparent: `00-${TRACE}-${PARENT}-01` });
    const until = Date.now() + 5000;
    let line: Record<string, unknown> | undefined;
    while (!(line = node.logs().find((l) => l.request_id === res.requestId && l.msg === 'request')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(line?.trace_id, TRACE);
  });
});

describe('traces exported over OTLP/HTTP JSON', () => {
  test('the JSON exporter sends the same tree, chosen by OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', async () => {
    const receiver = await startOtlpReceiver();
    const origin = await startOrigin();
    const node = await startVerge(await tracedApp(origin), ['--workers', '1'], {
      env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/traces`, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' },
    });
    try {
      const res = await get(`${node.url}/work`, { traceparent: `00-${TRACE}-${PARENT}-01` });
      assert.equal(res.body, '200');
      const spans = requestSpans(await receiver.waitFor((all) => workComplete(requestSpans(all, res.requestId))), res.requestId);
      assert.ok(spans.every((s) => s.encoding === 'json'));
      const server = spans.find((s) => s.kind === SERVER)!;
      assert.equal(server.traceId, TRACE);
      assert.equal(server.parentSpanId, PARENT);
      const execute = spans.find((s) => s.name === 'execute')!;
      assert.equal(spans.find((s) => s.name === 'kv.increment')?.parentSpanId, execute.spanId);
      assert.equal(spans.find((s) => s.kind === CLIENT)?.parentSpanId, execute.spanId);
    } finally {
      await node.stop();
      origin.close();
      await receiver.close();
    }
  });
});

/** Latencies of `n` sequential requests, in ms, sorted. */
async function latencies(url: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url);
    await res.arrayBuffer();
    assert.equal(res.status, 200);
    out.push(performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

const p99 = (sorted: number[]) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))]!;

async function droppedSpans(adminUrl: string, reason: string): Promise<number> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return Number(new RegExp(`^verge_trace_spans_dropped_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a collector in trouble costs requests nothing', () => {
  let origin: Origin;
  let app: string;
  let baseline: number[];

  before(async () => {
    origin = await startOrigin();
    app = await tracedApp(origin);
    const node = await startVerge(app, ['--workers', '2']);
    try {
      await latencies(`${node.url}/work`, 20);
      baseline = await latencies(`${node.url}/work`, 200);
    } finally {
      await node.stop();
    }
  });

  after(() => origin?.close());

  test('a collector that is down: every request is served, failed exports are counted as drops and logged once', async () => {
    const down = await startOtlpReceiver();
    const url = down.url;
    await down.close();
    // The exporter retries a refused connection with backoff; the export timeout bounds it, so the failure shows soon.
    const node = await startVerge(app, ['--workers', '2'], { admin: true, env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: url, OTEL_BSP_EXPORT_TIMEOUT: '2000' } });
    try {
      await latencies(`${node.url}/work`, 20);
      const measured = await latencies(`${node.url}/work`, 200);
      assert.ok(p99(measured) < p99(baseline) * 2 + NO_WAIT_SLACK_MS, `p99 ${p99(measured).toFixed(1)} ms with the collector down, ${p99(baseline).toFixed(1)} ms without tracing`);
      await until(async () => (await droppedSpans(node.adminUrl!, 'export_failed')) > 0, 15_000, 'no failed export was counted');
      const warnings = node.logs().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('trace export failed'));
      assert.equal(warnings.length, 1, 'logged once, not per export');
    } finally {
      await node.stop();
    }
  });

  test('a collector that never answers: every request is served, and spans the full queue cannot hold are counted as drops', async () => {
    const slow = await startOtlpReceiver('slow');
    const node = await startVerge(app, ['--workers', '2'], {
      admin: true,
      env: { ...FAST_EXPORT, OTEL_EXPORTER_OTLP_ENDPOINT: slow.url, OTEL_BSP_MAX_QUEUE_SIZE: '32', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '16', OTEL_BSP_EXPORT_TIMEOUT: '60000' },
    });
    try {
      await latencies(`${node.url}/work`, 20);
      const measured = await latencies(`${node.url}/work`, 200);
      assert.ok(p99(measured) < p99(baseline) * 2 + NO_WAIT_SLACK_MS, `p99 ${p99(measured).toFixed(1)} ms with a stuck collector, ${p99(baseline).toFixed(1)} ms without tracing`);
      assert.ok(slow.posts >= 1, 'the exporter did try');
      assert.ok((await droppedSpans(node.adminUrl!, 'queue_full')) > 0, 'a full queue drops and counts');
    } finally {
      await node.stop();
      await slow.close();
    }
  });
});
