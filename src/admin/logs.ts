/**
 * GET /v1/logs (docs/observability.md#logs): the node's recent log records, newest last, as
 * `{"records": [...]}`; with `follow=1`, a Server-Sent Events stream of the same records and
 * then each new one as it is logged, until the client goes away. An event's id is the record's
 * seq, so an EventSource that reconnects (Last-Event-ID) resumes where it was.
 *
 * A reader that does not keep up is not buffered for without bound: past MAX_BUFFERED_BYTES
 * records are dropped for it, and it is told how many with a `dropped` event.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseLogQuery, type LogQuery } from '../telemetry/log-filter.js';
import { recordJson, type LogRecord } from '../telemetry/log-record.js';
import type { LogRing } from '../telemetry/log-ring.js';

export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** A comment line this often keeps proxies from closing a quiet stream and shows a dead client. */
export const HEARTBEAT_MS = 15_000;

export function serveLogs(ring: LogRing, req: IncomingMessage, res: ServerResponse): void {
  const query = parseLogQuery(new URL(req.url ?? '/', 'http://admin').searchParams, ring.capacity);
  if (query.follow) return follow(ring, query, req, res);
  const body = `{"records": [\n${ring.recent(query.filter, query.limit).map(recordText).join(',\n')}\n]}\n`;
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** One record as JSON text; a field JSON cannot hold does not lose the record. */
export function recordText(r: LogRecord): string {
  try {
    return JSON.stringify(recordJson(r));
  } catch {
    return JSON.stringify({ ...recordJson({ ...r, fields: {} }), unserializable: true });
  }
}

function follow(ring: LogRing, query: LogQuery, req: IncomingMessage, res: ServerResponse): void {
  const resumeAfter = Number(req.headers['last-event-id']);
  const resuming = req.headers['last-event-id'] !== undefined && Number.isSafeInteger(resumeAfter) && resumeAfter >= 0;
  // The backlog and the subscription are taken in one turn: no record is missed or sent twice.
  const backlog = resuming ? ring.recent(query.filter, ring.capacity, resumeAfter) : ring.recent(query.filter, query.limit);
  let dropped = 0;
  const send = (records: LogRecord[]) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) {
      dropped += records.length;
      return;
    }
    let text = '';
    if (dropped > 0) {
      text += `event: dropped\ndata: {"dropped": ${dropped}}\n\n`;
      dropped = 0;
    }
    for (const r of records) text += `id: ${r.seq}\ndata: ${recordText(r)}\n\n`;
    res.write(text);
  };
  const subscription = ring.subscribe(query.filter, send);
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  res.on('close', () => {
    subscription.close();
    clearInterval(heartbeat);
  });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
  // The first bytes go out now, even with no backlog: the client knows it is following.
  res.write(': verge logs\n\n');
  if (backlog.length > 0) send(backlog);
  req.resume();
}
