import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { OtlpExport } from './export-client.js';
import { logsConfigFromEnv, traceConfigFromEnv } from './config.js';
import type { LogShape, SpanShape } from './export.js';
import { encodeSpans } from './encoded-spans.js';

/** A collector that keeps every JSON body it is sent, by path. */
async function receiver(): Promise<{ url: string; bodies: Array<[string, string]>; close: () => void }> {
  const bodies: Array<[string, string]> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      bodies.push([req.url ?? '', body]);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies, close: () => server.close() };
}

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const span = (name: string): SpanShape => ({ traceId: TRACE, id: name.padStart(16, '0'), parent: undefined, name, kind: 'internal', start: 1000, end: 1001, attributes: {}, error: undefined, events: undefined });
const record = (body: string): LogShape => ({ time: 1000, level: 'warn', body, attributes: { 'verge.component': 'c' }, traceId: TRACE, spanId: '00f067aa0ba902b7' });

test('spans and log records reach the collector through the export thread, and flush waits for them', async () => {
  const collector = await receiver();
  try {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' };
    const otlp = new OtlpExport({ traces: traceConfigFromEnv(env), logs: logsConfigFromEnv(env), logger: pino({ level: 'silent' }) });
    otlp.spans!.push(encodeSpans([span('a'), span('b')]));
    otlp.logs!.push(record('hello from a guest'));
    await otlp.flush(5000);
    const traces = collector.bodies.filter(([p]) => p === '/v1/traces').map(([, b]) => b).join('\n');
    const logs = collector.bodies.filter(([p]) => p === '/v1/logs').map(([, b]) => b).join('\n');
    assert.match(traces, /"name":"a"/);
    assert.match(traces, /"name":"b"/);
    const [logRecord] = (JSON.parse(logs) as { resourceLogs: Array<{ scopeLogs: Array<{ logRecords: Array<Record<string, unknown>> }> }> }).resourceLogs[0]!.scopeLogs[0]!.logRecords;
    assert.equal(logRecord!.severityText, 'WARN');
    assert.equal(logRecord!.severityNumber, 13);
    assert.deepEqual(logRecord!.body, { stringValue: 'hello from a guest' });
    assert.equal(logRecord!.traceId, TRACE);
    assert.equal(logRecord!.spanId, '00f067aa0ba902b7');
  } finally {
    collector.close();
  }
});

test('past the queue size, items on their way to the export thread are dropped and counted by signal, a request’s spans whole', async () => {
  const dropped: Array<[string, number, string]> = [];
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9', OTEL_BSP_MAX_QUEUE_SIZE: '2', OTEL_BLRP_MAX_QUEUE_SIZE: '1' };
  const otlp = new OtlpExport({ traces: traceConfigFromEnv(env), logs: logsConfigFromEnv(env), logger: pino({ level: 'silent' }), onDropped: (signal, n, reason) => void dropped.push([signal, n, reason]) });
  otlp.spans!.push(encodeSpans([span('a')]));
  otlp.spans!.push(encodeSpans([span('b'), span('c')]));
  otlp.logs!.push(record('kept'));
  otlp.logs!.push(record('dropped'));
  assert.deepEqual(dropped, [
    ['spans', 2, 'queue_full'],
    ['logs', 1, 'queue_full'],
  ]);
  await otlp.flush(100);
});

test('after the export thread is stopped, what comes is dropped as export_failed, never queued', async () => {
  const dropped: Array<[string, number, string]> = [];
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
  const otlp = new OtlpExport({ traces: traceConfigFromEnv(env), logs: undefined, logger: pino({ level: 'silent' }), onDropped: (signal, n, reason) => void dropped.push([signal, n, reason]) });
  await otlp.flush(100);
  otlp.spans!.push(encodeSpans([span('late')]));
  assert.deepEqual(dropped, [['spans', 1, 'export_failed']]);
  assert.equal(otlp.logs, undefined);
});
