/**
 * The admin listener: GET /metrics, the admin API under /v1/ (api.ts) behind auth.ts, and the
 * dashboard's page and assets at / and /assets/ (src/dashboard/assets.ts); plain HTTP or HTTPS.
 */
import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Metrics } from '../telemetry/metrics.js';
import type { AdminAuth } from './auth.js';

export interface AdminDeps {
  metrics: Metrics;
  auth: AdminAuth;
  api: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<void>;
  /** Serves the dashboard's files; false for a path that is not one. */
  dashboard?: (req: http.IncomingMessage, res: http.ServerResponse, path: string) => boolean;
}

/** Plain HTTP, or HTTPS (HTTP/1.1) with `tls`'s certificate and key. */
export function createAdminServer(deps: AdminDeps, tls?: SecureContextOptions): http.Server {
  const registry = deps.metrics.registry;
  const handler: http.RequestListener = (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/v1' || path.startsWith('/v1/')) {
      void deps.api(req, res, path);
      return;
    }
    if (req.method === 'GET' && path === '/metrics') {
      // Off loopback the metrics say too much about the node to give to anyone.
      if (!deps.auth.loopback && deps.auth.check(req.headers.authorization) === undefined) {
        return json(res, 401, { error: 'ADMIN_UNAUTHORIZED', message: 'GET /metrics off loopback needs the bearer token: authorization: Bearer <token>' });
      }
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
      return;
    }
    if (deps.dashboard?.(req, res, path)) return;
    json(res, 404, { error: 'NOT_FOUND', message: 'the admin listener serves the dashboard at /, GET /metrics and the admin API under /v1/ (docs/deploy.md)' });
  };
  return tls ? https.createServer(tls, handler) : http.createServer(handler);
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}
