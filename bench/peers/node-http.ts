/**
 * The node:http peer: the floor for any Node-based server. Answers GET /api/hello with the same
 * JSON body and content type as examples/hello, 404 otherwise. Usage: node node-http.js HOST:PORT
 */
import http from 'node:http';

const BODY = Buffer.from('{"message":"Hello from Wasm!"}');
const NOT_FOUND = Buffer.from('{"error":"NOT_FOUND","message":"no route"}');

const where = process.argv[2] ?? '127.0.0.1:0';
const colon = where.lastIndexOf(':');
const host = where.slice(0, colon);
const port = Number(where.slice(colon + 1));

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/api/hello') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    res.end(BODY);
    return;
  }
  res.writeHead(404, { 'content-type': 'application/json', 'content-length': NOT_FOUND.length });
  res.end(NOT_FOUND);
});

server.listen(port, host, () => {
  const addr = server.address();
  const p = typeof addr === 'object' && addr ? addr.port : port;
  process.stderr.write(`node:http peer on http://${host}:${p}\n`);
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
