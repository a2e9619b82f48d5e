/**
 * `verge logs`: a node's log through its admin API (GET /v1/logs), like `wrangler tail`: the
 * recent records that pass the filters, and with --follow each new one as the node logs it,
 * until Ctrl-C or the node goes away. Exit codes: admin-client.ts EXIT.
 */
import http from 'node:http';
import https from 'node:https';
import { AdminCallError, EXIT, call, parseAnswer, refusal, type AdminTarget } from './admin-client.js';
import { createEventStreamParser } from './event-stream.js';
import { queryOf, type LogFilter } from '../telemetry/log-filter.js';
import type { RecordJson } from '../telemetry/log-record.js';

/** The node sends a comment every 15 s (admin/logs.ts HEARTBEAT_MS): this long without a byte, it is gone. */
export const FOLLOW_IDLE_MS = 60_000;

export interface LogsOptions {
  filter: LogFilter;
  /** Recent records first (the node's default when undefined: 100). */
  limit?: number | undefined;
  follow: boolean;
  /** Called once the node has accepted a --follow: records logged from now on will arrive. */
  onFollowing?: () => void;
  /** The node dropped records because this reader fell behind. */
  onDropped?: (count: number) => void;
}

export async function readLogs(target: AdminTarget, opts: LogsOptions, print: (record: RecordJson) => void): Promise<void> {
  const path = `/v1/logs${queryOf(opts.filter, { limit: opts.limit, follow: opts.follow ? 1 : undefined })}`;
  if (!opts.follow) {
    const { body } = await call<{ records: RecordJson[] }>(target, path);
    for (const r of body.records) print(r);
    return;
  }
  await follow(target, path, opts, print);
}

/** Resolves never: the stream ends with an AdminCallError (refused, or the node gone), or with the process. */
function follow(target: AdminTarget, path: string, opts: LogsOptions, print: (record: RecordJson) => void): Promise<void> {
  const url = new URL(path, target.url);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<void>((_, reject) => {
    const req = client.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      if (status !== 200) {
        let text = '';
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          const body = parseAnswer(url, status, text);
          reject(body instanceof AdminCallError ? body : refusal(status, body));
        });
        return;
      }
      opts.onFollowing?.();
      const parser = createEventStreamParser((event) => {
        if (event.type === 'dropped') return opts.onDropped?.(Number((JSON.parse(event.data) as { dropped: number }).dropped));
        if (event.type === 'message') print(JSON.parse(event.data) as RecordJson);
      });
      res.on('data', (d: string) => parser.push(d));
      // However the stream ends (the node stopping cuts it short: "aborted"), the node is gone for this reader.
      const ended = (why?: string) => reject(new AdminCallError(`${url.origin}: the node closed the log stream${why ? ` (${why})` : ''}; stopped?`, EXIT.unreachable));
      res.on('error', (err) => ended(err.message));
      res.on('close', () => ended());
    });
    req.setTimeout(FOLLOW_IDLE_MS, () => req.destroy(new Error(`nothing from the node for ${FOLLOW_IDLE_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new AdminCallError(`cannot reach the node at ${url.origin}: ${err.code ?? err.message}`, EXIT.unreachable)));
  });
}
