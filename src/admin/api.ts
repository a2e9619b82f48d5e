/**
 * The admin API, JSON under /v1/ (docs/deploy.md):
 *
 *   GET    /v1/node                          the node: its public URL, workers, Verge version
 *   GET    /v1/apps                          apps and what serves them
 *   GET    /v1/apps/APP/versions             an app's versions
 *   POST   /v1/apps/APP/versions             upload a bundle (the body): 201 new, 200 known already
 *   GET    /v1/apps/APP/versions/ID          one version (ID may be a unique prefix)
 *   DELETE /v1/apps/APP/versions/ID          delete a version no deployment uses
 *   GET    /v1/apps/APP/deployment           the active deployment
 *   PUT    /v1/apps/APP/deployment           set it: {"versions": [{"id", "weight"}], "sticky", "auto_rollback"}
 *   POST   /v1/apps/APP/rollback             back to the previous deployment, or {"version": ID}
 *   GET    /v1/apps/APP/status               per version: requests, 5xx rate, p50/p99 over the last minute
 *   POST   /v1/apps/APP/override-cookie      a signed cookie that selects {"version", "ttl_seconds"} in a browser
 *   GET    /v1/logs                          recent log records; follow=1 streams new ones (logs.ts, docs/observability.md)
 *   GET    /v1/cluster                       the nodes of this node's cluster, or that clustering is off (src/cluster/route.ts, docs/cluster.md)
 *
 * More calls come as `routes` (the dashboard's and the key-value store's, src/dashboard/api.ts). Every call needs
 * the bearer token when one is configured; errors are `{error, message}` with the catalogue's
 * codes (manifest problems listed in `problems`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { NAME as APP_NAME } from '../manifest/load.js';
import { VergeError, isVergeError } from '../errors.js';
import type { Logger } from '../telemetry/logging.js';
import type { DeployService } from '../deploy/service.js';
import type { AdminAuth } from './auth.js';
import type { Override } from '../deploy/override.js';
import type { LogRing } from '../telemetry/log-ring.js';
import { serveLogs } from './logs.js';

const JSON_TYPE = 'application/json; charset=utf-8';
/** Deploy and rollback bodies are small; bundles stream to the store instead. */
const MAX_JSON_BYTES = 64 * 1024;
/** How long the rest of a refused upload is read and dropped before the connection is closed. */
const DISCARD_MS = 5000;

/** A call after the token check: the path's segments after /v1/ (still percent-encoded) and the query. */
export interface AdminRequest {
  readonly method: string;
  readonly parts: readonly string[];
  readonly query: URLSearchParams;
  /** The caller's token fingerprint ('local' without a token), for the audit log. */
  readonly who: string;
  /** The request body, or undefined once it runs past `maxBytes` (the rest is not read). */
  body(maxBytes: number): Promise<Buffer | undefined>;
}

/** Answers the calls it knows with a JSON body (status 200), or undefined for the others. */
export type AdminRoute = (req: AdminRequest) => Promise<unknown> | undefined;

export function createAdminApi(deps: {
  service: DeployService;
  auth: AdminAuth;
  logger: Logger;
  override: Override | undefined;
  node: () => Record<string, unknown>;
  routes?: readonly AdminRoute[];
  logs?: LogRing;
}) {
  return async function handle(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      const who = deps.auth.check(req.headers.authorization);
      if (who === undefined) {
        throw new VergeError('ADMIN_UNAUTHORIZED', 'the admin API needs the bearer token: authorization: Bearer <token> (VERGE_ADMIN_TOKEN of the node)');
      }
      const parts = path.split('/').slice(2); // '', 'v1', ...
      const method = req.method ?? 'GET';
      const s = deps.service;
      const query = new URL(req.url ?? '/', 'http://admin').searchParams;
      for (const route of deps.routes ?? []) {
        const answer = route({ method, parts, query, who, body: (max) => readBody(req, max) });
        if (answer !== undefined) return send(res, 200, await answer);
      }
      if (parts.length === 1 && parts[0] === 'node' && method === 'GET') return send(res, 200, deps.node());
      if (parts.length === 1 && parts[0] === 'apps' && method === 'GET') return send(res, 200, { apps: await s.apps() });
      if (parts.length === 1 && parts[0] === 'logs' && method === 'GET' && deps.logs) return serveLogs(deps.logs, req, res);
      if (parts[0] !== 'apps' || parts.length < 3) throw notFound(method, path);
      const app = decodeURIComponent(parts[1]!);
      if (!APP_NAME.test(app)) throw new VergeError('APP_NOT_FOUND', `${JSON.stringify(app)} is not an app name`);
      const what = parts[2];
      const id = parts[3] === undefined ? undefined : decodeURIComponent(parts[3]);
      if (what === 'versions' && parts.length === 3) {
        if (method === 'GET') return send(res, 200, { versions: await s.versions(app) });
        if (method === 'POST') {
          // Through a pass-through: a refused bundle destroys this stream, not the request, which still gets its answer.
          const body = new PassThrough();
          req.pipe(body);
          const out = await s.upload(app, body, who);
          return send(res, out.created ? 201 : 200, out);
        }
      }
      if (what === 'versions' && parts.length === 4 && id !== undefined) {
        if (method === 'GET') return send(res, 200, await s.version(app, id));
        if (method === 'DELETE') {
          await s.remove(app, id, who);
          return send(res, 200, { deleted: id });
        }
      }
      if (what === 'deployment' && parts.length === 3) {
        if (method === 'GET') return send(res, 200, (await s.status(app)).deployment);
        if (method === 'PUT') return send(res, 200, await s.deploy(app, await readJson(req), who));
      }
      if (what === 'rollback' && parts.length === 3 && method === 'POST') {
        const body = (await readJson(req, true)) as { version?: unknown } | undefined;
        if (body?.version !== undefined && typeof body.version !== 'string') throw new VergeError('DEPLOYMENT_INVALID', 'version: expected a version id string');
        return send(res, 200, await s.rollback(app, body?.version as string | undefined, who));
      }
      if (what === 'status' && parts.length === 3 && method === 'GET') return send(res, 200, await s.status(app));
      if (what === 'override-cookie' && parts.length === 3 && method === 'POST' && deps.override) {
        const body = (await readJson(req)) as { version?: unknown; ttl_seconds?: unknown };
        if (typeof body?.version !== 'string') throw new VergeError('DEPLOYMENT_INVALID', 'version: expected a version id string');
        const version = (await s.version(app, body.version)).id as string;
        const ttl = body.ttl_seconds ?? 3600;
        let issued;
        try {
          issued = deps.override.issueCookie(app, version, ttl as number, { secure: false });
        } catch (err) {
          throw new VergeError('DEPLOYMENT_INVALID', (err as Error).message);
        }
        deps.logger.info({ admin: who, action: 'override-cookie', app, version: version.slice(0, 12), expires_at: issued.expiresAt }, 'admin');
        return send(res, 200, { cookie: `verge-override=${issued.value}`, expires_at: issued.expiresAt });
      }
      throw notFound(method, path);
    } catch (err) {
      const error = isVergeError(err) ? err : new VergeError('INTERNAL', 'internal error', { cause: err });
      if (error.code === 'INTERNAL') deps.logger.error({ err, path }, 'admin API failed');
      // Load-time codes (status 0) answer 422: the request was understood, its content is refused.
      const status = error.status === 0 ? 422 : error.status;
      const body: Record<string, unknown> = { error: error.code, message: error.message };
      if (error.problems && error.problems.length > 0) body.problems = error.problems;
      if (!req.complete) res.setHeader('connection', 'close');
      send(res, status, body);
      // An upload refused midway: read and drop the rest for a while so the client sees the answer, then hang up.
      if (!req.complete) {
        req.unpipe();
        req.resume();
        setTimeout(() => req.socket.destroy(), DISCARD_MS).unref();
      }
    }
  };
}

function notFound(method: string, path: string): VergeError {
  return new VergeError('NOT_FOUND', `the admin API has no ${method} ${path} (see docs/deploy.md)`);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: IncomingMessage, optional = false): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BYTES) throw new VergeError('DEPLOYMENT_INVALID', `the request body is larger than ${MAX_JSON_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '' && optional) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new VergeError('DEPLOYMENT_INVALID', 'the request body is not JSON');
  }
}
