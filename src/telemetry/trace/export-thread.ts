/**
 * The thread that exports spans (docs/observability.md#traces). Turning a span into the SDK's
 * ReadableSpan and encoding it as OTLP costs ~10 µs a span, and the HTTP client posting the
 * batches is more work again: on the main thread that was most of what a sampled request cost (the
 * main thread is the one every request crosses). So the main thread only collects plain span
 * shapes and posts them here in batches (ExportThread, below); this thread builds the SDK's spans,
 * queues them in the bounded SpanQueue and runs the OpenTelemetry exporter.
 *
 * Messages in: `spans` (a batch of shapes; answered by `taken` with the count, which is the main
 * thread's bound on what is in flight), `flush` (export what is queued within `ms`, then answer
 * `flushed`). Messages out: `taken`, `dropped`, `failed`, `flushed`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createExporter, createResource, readableSpan, SpanQueue, type DropReason, type SpanShape } from './export.js';
import type { TraceConfig } from './config.js';

export interface ExportThreadData {
  config: TraceConfig;
  version: string;
}

export type ToExportThread = { t: 'spans'; spans: SpanShape[] } | { t: 'flush'; ms: number };

export type FromExportThread =
  | { t: 'taken'; count: number }
  | { t: 'dropped'; count: number; reason: DropReason }
  | { t: 'failed'; reason: string }
  | { t: 'flushed' };

if (parentPort) {
  const port = parentPort;
  const { config, version } = workerData as ExportThreadData;
  const post = (m: FromExportThread) => port.postMessage(m);
  const resource = createResource(version);
  const scope = { name: 'verge', version };
  const queue = new SpanQueue(createExporter(config), config.batch, {
    dropped: (count, reason) => post({ t: 'dropped', count, reason }),
    failed: (reason) => post({ t: 'failed', reason }),
  });
  port.on('message', (m: ToExportThread) => {
    if (m.t === 'spans') {
      for (const s of m.spans) queue.add(readableSpan(s, resource, scope));
      post({ t: 'taken', count: m.spans.length });
    } else {
      void queue.flush(m.ms).then(() => post({ t: 'flushed' }));
    }
  });
}
