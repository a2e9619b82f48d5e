/**
 * The plain Node peer of examples/users-pg for the seed 002 benchmark: node:http with `pg` (a Pool
 * of 10, as Verge's `pool_size` default) and `ioredis` (one connection, pipelined), the same
 * statement and the same cache-aside as the guest (src/cache.rs): `GET user:ID`, else
 * `SELECT id, name, email, created_at FROM users WHERE id = $1` and `SET user:ID JSON EX TTL`,
 * a missing user cached as `-`, `x-cache: hit|miss`. Only the paths the benchmark reads:
 * `GET /api/hello`, `GET /api/users/:id`.
 *
 * Usage: DATABASE_URL=postgres://… REDIS_URL=redis://… CACHE_TTL_SECONDS=60 node users-pg-node.js HOST:PORT
 */
import http from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';

const HELLO = Buffer.from('{"message":"Hello from Wasm!"}');
const MISSING = '-';
const SELECT = 'SELECT id, name, email, created_at FROM users WHERE id = $1';

const where = process.argv[2] ?? '127.0.0.1:0';
const colon = where.lastIndexOf(':');
const host = where.slice(0, colon);
const port = Number(where.slice(colon + 1));
const ttl = Number(process.env.CACHE_TTL_SECONDS ?? '60');

const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const redis = ttl > 0 ? new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: false, maxRetriesPerRequest: 1 }) : undefined;
// A failing cache is bypassed, as the guest's is.
redis?.on('error', () => {});

function send(res: http.ServerResponse, status: number, body: string | Buffer, cache?: 'hit' | 'miss'): void {
  const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
  if (cache) headers['x-cache'] = cache;
  res.writeHead(status, headers).end(body);
}

const notFound = (id: number) => JSON.stringify({ error: 'USER_NOT_FOUND', message: `No user ${id}` });

async function show(res: http.ServerResponse, id: number): Promise<void> {
  const key = `user:${id}`;
  const cached = redis ? await redis.get(key).catch(() => null) : null;
  if (cached === MISSING) return send(res, 404, notFound(id), 'hit');
  if (cached !== null) return send(res, 200, cached, 'hit');
  const { rows } = await db.query<{ id: string; name: string; email: string; created_at: Date }>(SELECT, [id]);
  const row = rows[0];
  const body = row ? JSON.stringify({ id: Number(row.id), name: row.name, email: row.email, created_at: row.created_at.toISOString() }) : MISSING;
  await redis?.set(key, body, 'EX', ttl).catch(() => undefined);
  if (row) send(res, 200, body, 'miss');
  else send(res, 404, notFound(id), 'miss');
}

const server = http.createServer((req, res) => {
  const url = req.url ?? '/';
  if (req.method === 'GET' && url === '/api/hello') return send(res, 200, HELLO);
  const m = /^\/api\/users\/(\d+)$/.exec(url);
  if (req.method === 'GET' && m) {
    show(res, Number(m[1])).catch((err: Error) => send(res, 500, JSON.stringify({ error: 'DATABASE_ERROR', message: err.message })));
    return;
  }
  send(res, 404, '{"error":"NOT_FOUND","message":"no route"}');
});

server.listen(port, host, () => {
  const addr = server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  process.stderr.write(`users-pg node peer on http://${host}:${p}\n`);
});

const stop = () => {
  server.close();
  redis?.disconnect();
  void db.end().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
