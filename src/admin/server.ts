/** The admin listener: GET /metrics today; the admin API (deploys, versions) lives here next. */
import http from 'node:http';
import https from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Metrics } from '../telemetry/metrics.js';

/** Plain HTTP, or HTTPS (HTTP/1.1) with `tls`'s certificate and key. */
export function createAdminServer(metrics: Metrics, tls?: SecureContextOptions): http.Server {
  const registry = metrics.registry;
  const handler: http.RequestListener = (req, res) => {
    if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(err.message),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'NOT_FOUND', message: 'the admin listener serves GET /metrics' }));
  };
  return tls ? https.createServer(tls, handler) : http.createServer(handler);
}
