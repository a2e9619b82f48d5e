/**
 * The CLI's side of the admin API: the node's URL and token, JSON calls, and uploads that report
 * their progress. Failures become AdminCallError with the node's code and message, and an exit
 * code a CI script can rely on (docs/deploy.md).
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

/** Exit codes of deploy, rollback, versions, status and logs. */
export const EXIT = {
  /** Bad arguments, an unreadable file, an app that does not build or bundle. */
  usage: 1,
  /** The node could not be reached. */
  unreachable: 2,
  /** The node refused the call (token, bundle, signature, deployment): its code is printed. */
  refused: 3,
  /** Deployed, but the new version did not answer its health check in time. */
  unhealthy: 4,
} as const;

export class AdminCallError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export interface AdminTarget {
  url: URL;
  token: string | undefined;
}

export function adminTarget(url: string | undefined, tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): AdminTarget {
  const raw = url ?? env.VERGE_ADMIN_URL;
  if (!raw) throw new AdminCallError('the node to talk to is missing: pass --to URL (or --from URL), or set VERGE_ADMIN_URL', EXIT.usage);
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new AdminCallError(`${JSON.stringify(raw)} is not a URL; the admin listener's URL looks like http://127.0.0.1:9090`, EXIT.usage);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new AdminCallError(`${raw}: expected an http:// or https:// URL`, EXIT.usage);
  let token = env.VERGE_ADMIN_TOKEN || undefined;
  if (tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new AdminCallError(`--token-file ${tokenFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`, EXIT.usage);
    }
  }
  return { url: parsed, token };
}

export interface CallOptions {
  method?: string;
  json?: unknown;
  body?: Buffer;
  contentType?: string;
  onProgress?: (sent: number, total: number) => void;
}

/** One admin call; resolves with the JSON answer, rejects with AdminCallError. */
export function call<T = Record<string, unknown>>(target: AdminTarget, path: string, opts: CallOptions = {}): Promise<{ status: number; body: T }> {
  const url = new URL(path, target.url);
  const payload = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token) headers.authorization = `Bearer ${target.token}`;
  if (payload) {
    headers['content-type'] = opts.json !== undefined ? 'application/json' : (opts.contentType ?? 'application/octet-stream');
    headers['content-length'] = String(payload.length);
  }
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method: opts.method ?? 'GET', headers, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        const body = parseAnswer(url, status, text);
        if (body instanceof AdminCallError) return reject(body);
        if (status >= 400) return reject(refusal(status, body));
        resolve({ status, body: body as T });
      });
      res.on('error', (err) => reject(new AdminCallError(`${url.origin}: ${err.message}`, EXIT.unreachable)));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 120 s')));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new AdminCallError(`cannot reach the node at ${url.origin}: ${err.code ?? err.message}`, EXIT.unreachable)));
    if (!payload) return void req.end();
    // Written in slices so the progress can be shown as the node takes them.
    const slice = 256 * 1024;
    let sent = 0;
    const writeMore = () => {
      while (sent < payload.length) {
        const part = payload.subarray(sent, sent + slice);
        sent += part.length;
        opts.onProgress?.(sent, payload.length);
        if (!req.write(part)) return void req.once('drain', writeMore);
      }
      req.end();
    };
    writeMore();
  });
}

/** An answer's JSON body, or the error to report when it has none. */
export function parseAnswer(url: URL, status: number, text: string): Record<string, unknown> | AdminCallError {
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return new AdminCallError(`${url.origin}${url.pathname}: answered ${status} with something that is not JSON; is this a Verge admin listener?`, EXIT.refused);
  }
}

/** The node's refusal (an error answer's `{error, message, problems}`) as the CLI reports it. */
export function refusal(status: number, body: Record<string, unknown>): AdminCallError {
  const problems = Array.isArray(body.problems) ? '\n' + (body.problems as Array<{ file?: string; path?: string; message?: string }>).map((p) => `  ${p.file ?? ''} ${p.path ?? ''}: ${p.message ?? ''}`).join('\n') : '';
  return new AdminCallError(`${String(body.message ?? `HTTP ${status}`)}${problems}`, EXIT.refused, typeof body.error === 'string' ? body.error : undefined);
}
