/**
 * A real OTLP/HTTP receiver for end-to-end tests: a node:http server that decodes what the
 * OpenTelemetry exporters send to /v1/traces and /v1/logs, in protobuf (a minimal reader of the few OTLP messages, written
 * here so the test does not trust the exporter's own code) or JSON. It can also be slow (never
 * answers) or failing (answers 500), to stand for a collector in trouble.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string | number | boolean>;
  events: Array<{ name: string; attributes: Record<string, string | number | boolean> }>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Record<string, string | number | boolean>;
  /** How it arrived. */
  encoding: 'protobuf' | 'json';
}

export interface ReceivedLog {
  body: string;
  severityText: string;
  severityNumber: number;
  /** Empty when the record belongs to no span. */
  traceId: string;
  spanId: string;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
  encoding: 'protobuf' | 'json';
}

export interface OtlpReceiver {
  url: string;
  spans: ReceivedSpan[];
  logs: ReceivedLog[];
  /** Export requests received (answered or not). */
  posts: number;
  /** Resolves with the spans once `match` holds for them, or rejects after `ms`. */
  waitFor(match: (spans: ReceivedSpan[]) => boolean, ms?: number): Promise<ReceivedSpan[]>;
  /** Resolves with the log records once `match` holds for them, or rejects after `ms`. */
  waitForLogs(match: (logs: ReceivedLog[]) => boolean, ms?: number): Promise<ReceivedLog[]>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(mode: 'ok' | 'slow' | 'fail' = 'ok'): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const logs: ReceivedLog[] = [];
  const receiver = { posts: 0 };
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.posts++;
      if (mode === 'slow') {
        hanging.add(res);
        return;
      }
      if (mode === 'fail') {
        res.writeHead(500, { 'content-type': 'text/plain' }).end('collector failure');
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const type = req.headers['content-type'] ?? '';
      try {
        if (req.url === '/v1/logs') logs.push(...(type.includes('json') ? decodeJsonLogs(body) : decodeProtobufLogs(body)));
        else spans.push(...(type.includes('json') ? decodeJson(body) : decodeProtobuf(body)));
      } catch (err) {
        res.writeHead(400).end(String(err));
        return;
      }
      if (type.includes('json')) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    logs,
    get posts() {
      return receiver.posts;
    },
    async waitFor(match, ms = 10_000) {
      const until = Date.now() + ms;
      while (!match(spans)) {
        if (Date.now() > until) throw new Error(`the receiver did not get the expected spans within ${ms} ms; it has ${spans.length}: ${spans.map((s) => s.name).join(', ')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return spans;
    },
    async waitForLogs(match, ms = 10_000) {
      const until = Date.now() + ms;
      while (!match(logs)) {
        if (Date.now() > until) throw new Error(`the receiver did not get the expected log records within ${ms} ms; it has ${logs.length}: ${logs.map((l) => l.body).join(' | ')}`);
        await new Promise((r) => setTimeout(r, 25));
      }
      return logs;
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  } as OtlpReceiver;
}

// --- JSON (OTLP/JSON: ids as hex strings, 64-bit integers as strings or numbers) ---

interface JsonKeyValue {
  key: string;
  value: Record<string, unknown>;
}

function jsonValue(v: Record<string, unknown>): string | number | boolean {
  if ('stringValue' in v) return String(v.stringValue);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return Number(v.doubleValue);
  return JSON.stringify(v);
}

function jsonAttributes(list: JsonKeyValue[] | undefined): Record<string, string | number | boolean> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
}

function decodeJson(body: Buffer): ReceivedSpan[] {
  const doc = JSON.parse(body.toString('utf8')) as {
    resourceSpans?: Array<{ resource?: { attributes?: JsonKeyValue[] }; scopeSpans?: Array<{ spans?: Array<Record<string, unknown>> }> }>;
  };
  const out: ReceivedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const resource = jsonAttributes(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const status = (s.status ?? {}) as { code?: number; message?: string };
        out.push({
          traceId: String(s.traceId),
          spanId: String(s.spanId),
          parentSpanId: String(s.parentSpanId ?? ''),
          name: String(s.name),
          kind: Number(s.kind),
          startNs: BigInt(String(s.startTimeUnixNano)),
          endNs: BigInt(String(s.endTimeUnixNano)),
          attributes: jsonAttributes(s.attributes as JsonKeyValue[] | undefined),
          events: ((s.events ?? []) as Array<{ name: string; attributes?: JsonKeyValue[] }>).map((e) => ({ name: e.name, attributes: jsonAttributes(e.attributes) })),
          status: { code: status.code ?? 0, message: status.message ?? '' },
          resource,
          encoding: 'json',
        });
      }
    }
  }
  return out;
}

function decodeJsonLogs(body: Buffer): ReceivedLog[] {
  const doc = JSON.parse(body.toString('utf8')) as {
    resourceLogs?: Array<{ resource?: { attributes?: JsonKeyValue[] }; scopeLogs?: Array<{ logRecords?: Array<Record<string, unknown>> }> }>;
  };
  const out: ReceivedLog[] = [];
  for (const rl of doc.resourceLogs ?? []) {
    const resource = jsonAttributes(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) {
        out.push({
          body: String(jsonValue((r.body ?? {}) as Record<string, unknown>)),
          severityText: String(r.severityText ?? ''),
          severityNumber: Number(r.severityNumber ?? 0),
          traceId: String(r.traceId ?? ''),
          spanId: String(r.spanId ?? ''),
          attributes: jsonAttributes(r.attributes as JsonKeyValue[] | undefined),
          resource,
          encoding: 'json',
        });
      }
    }
  }
  return out;
}

// --- protobuf (opentelemetry/proto/collector/{trace,logs}/v1/*_service.proto and what they include) ---

type Field = { no: number; wire: number; varint: bigint; bytes: Uint8Array };

/** The fields of one message, in order; length-delimited ones as their bytes. */
function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('truncated varint');
      const b = buf[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ no, wire, varint: varint(), bytes: new Uint8Array(0) });
    else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      const bytes = buf.subarray(i, i + n);
      let v = 0n;
      for (let k = n - 1; k >= 0; k--) v = (v << 8n) | BigInt(bytes[k]!);
      out.push({ no, wire, varint: v, bytes });
      i += n;
    } else if (wire === 2) {
      const len = Number(varint());
      out.push({ no, wire, varint: 0n, bytes: buf.subarray(i, i + len) });
      i += len;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const text = (b: Uint8Array) => Buffer.from(b).toString('utf8');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function anyValue(buf: Uint8Array): string | number | boolean {
  for (const f of fields(buf)) {
    if (f.no === 1) return text(f.bytes);
    if (f.no === 2) return f.varint !== 0n;
    if (f.no === 3) return Number(BigInt.asIntN(64, f.varint));
    if (f.no === 4) return Buffer.from(f.bytes).readDoubleLE(0);
  }
  return '';
}

function keyValues(list: Field[], no: number): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const f of list) {
    if (f.no !== no) continue;
    let key = '';
    let value: string | number | boolean = '';
    for (const kv of fields(f.bytes)) {
      if (kv.no === 1) key = text(kv.bytes);
      if (kv.no === 2) value = anyValue(kv.bytes);
    }
    out[key] = value;
  }
  return out;
}

function decodeProtobuf(body: Buffer): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of fields(body).filter((f) => f.no === 1)) {
    const rsFields = fields(rs.bytes);
    const resourceField = rsFields.find((f) => f.no === 1);
    const resource = resourceField ? keyValues(fields(resourceField.bytes), 1) : {};
    for (const ss of rsFields.filter((f) => f.no === 2)) {
      for (const sp of fields(ss.bytes).filter((f) => f.no === 2)) {
        const s = fields(sp.bytes);
        const one = (no: number) => s.find((f) => f.no === no);
        const statusFields = one(15) ? fields(one(15)!.bytes) : [];
        out.push({
          traceId: hex(one(1)?.bytes ?? new Uint8Array(0)),
          spanId: hex(one(2)?.bytes ?? new Uint8Array(0)),
          parentSpanId: hex(one(4)?.bytes ?? new Uint8Array(0)),
          name: text(one(5)?.bytes ?? new Uint8Array(0)),
          kind: Number(one(6)?.varint ?? 0n),
          startNs: one(7)?.varint ?? 0n,
          endNs: one(8)?.varint ?? 0n,
          attributes: keyValues(s, 9),
          events: s
            .filter((f) => f.no === 11)
            .map((e) => {
              const ef = fields(e.bytes);
              return { name: text(ef.find((f) => f.no === 2)?.bytes ?? new Uint8Array(0)), attributes: keyValues(ef, 3) };
            }),
          status: {
            code: Number(statusFields.find((f) => f.no === 3)?.varint ?? 0n),
            message: text(statusFields.find((f) => f.no === 2)?.bytes ?? new Uint8Array(0)),
          },
          resource,
          encoding: 'protobuf',
        });
      }
    }
  }
  return out;
}

function decodeProtobufLogs(body: Buffer): ReceivedLog[] {
  const out: ReceivedLog[] = [];
  for (const rl of fields(body).filter((f) => f.no === 1)) {
    const rlFields = fields(rl.bytes);
    const resourceField = rlFields.find((f) => f.no === 1);
    const resource = resourceField ? keyValues(fields(resourceField.bytes), 1) : {};
    for (const sl of rlFields.filter((f) => f.no === 2)) {
      for (const lr of fields(sl.bytes).filter((f) => f.no === 2)) {
        const r = fields(lr.bytes);
        const one = (no: number) => r.find((f) => f.no === no);
        out.push({
          body: String(one(5) ? anyValue(one(5)!.bytes) : ''),
          severityNumber: Number(one(2)?.varint ?? 0n),
          severityText: text(one(3)?.bytes ?? new Uint8Array(0)),
          traceId: hex(one(9)?.bytes ?? new Uint8Array(0)),
          spanId: hex(one(10)?.bytes ?? new Uint8Array(0)),
          attributes: keyValues(r, 6),
          resource,
          encoding: 'protobuf',
        });
      }
    }
  }
  return out;
}
