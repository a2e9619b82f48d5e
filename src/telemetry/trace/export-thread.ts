/**
 * The thread that exports spans and guest log records over OTLP (docs/observability.md). Turning a
 * span into the SDK's ReadableSpan and encoding it costs ~10 µs, and the HTTP client posting the
 * batches is more work again: on the main thread, the one every request crosses, that was most of
 * what a sampled request cost. So the main thread only collects encoded spans and plain log shapes
 * and posts them here in batches (export-client.ts); this thread decodes them (encoded-spans.ts),
 * builds the SDK's records, keeps them in a bounded ExportQueue per signal and runs the
 * OpenTelemetry exporters.
 *
 * Messages in: `items` (a batch of one signal's items; answered by `taken` with how many spans or
 * records it held, the main thread's bound on what is in flight), `flush` (export what is queued within `ms`, then answer
 * `flushed`). Messages out: `ready` (once, when the exporters are loaded), `taken`, `dropped`,
 * `failed`, `flushed`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createExporter, createLogExporter, createResource, ExportQueue, readableLogRecord, readableSpan, type DropReason, type LogShape } from './export.js';
import type { LogsConfig, TraceConfig } from './config.js';
import { decodeSpans, type EncodedSpans } from './encoded-spans.js';

export type Signal = 'spans' | 'logs';

export interface ExportThreadData {
  traces: TraceConfig | undefined;
  logs: LogsConfig | undefined;
  version: string;
}

export type ToExportThread = { t: 'items'; signal: 'spans'; items: EncodedSpans[] } | { t: 'items'; signal: 'logs'; items: LogShape[] } | { t: 'flush'; ms: number };

export type FromExportThread =
  | { t: 'taken'; signal: Signal; count: number }
  | { t: 'dropped'; signal: Signal; count: number; reason: DropReason }
  | { t: 'failed'; signal: Signal; reason: string }
  | { t: 'flushed' }
  | { t: 'ready' };

if (parentPort) {
  const port = parentPort;
  const { traces, logs, version } = workerData as ExportThreadData;
  const post = (m: FromExportThread) => port.postMessage(m);
  const resource = createResource(version);
  const scope = { name: 'verge', version };
  const hooks = (signal: Signal) => ({
    dropped: (count: number, reason: DropReason) => post({ t: 'dropped', signal, count, reason }),
    failed: (reason: string) => post({ t: 'failed', signal, reason }),
  });
  const spans = traces && new ExportQueue(createExporter(traces), traces.batch, hooks('spans'));
  const records = logs && new ExportQueue(createLogExporter(logs), logs.batch, hooks('logs'));
  port.on('message', (m: ToExportThread) => {
    if (m.t === 'flush') {
      void Promise.all([spans?.flush(m.ms), records?.flush(m.ms)]).then(() => post({ t: 'flushed' }));
      return;
    }
    // With the queue full (a slow collector), what cannot be kept is counted, never decoded or built.
    if (m.signal === 'spans') {
      let count = 0;
      for (const request of m.items) {
        count += request.count;
        if (!spans) continue;
        // A request's spans are kept whole or not at all.
        if (spans.room < request.count) spans.refuse(request.count);
        else for (const shape of decodeSpans(request)) spans.add(readableSpan(shape, resource, scope));
      }
      post({ t: 'taken', signal: 'spans', count });
      return;
    }
    if (records) {
      const kept = Math.min(m.items.length, records.room);
      for (let i = 0; i < kept; i++) records.add(readableLogRecord(m.items[i]!, resource, scope));
      records.refuse(m.items.length - kept);
    }
    post({ t: 'taken', signal: 'logs', count: m.items.length });
  });
  // The exporters are loaded: the node may start serving without this thread's start-up competing with requests.
  post({ t: 'ready' });
}
