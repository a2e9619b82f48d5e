/**
 * The sharp peer for the resize benchmark: a plain node:http server doing what
 * examples/image-resize does for `POST /resize?width=N`, with sharp (libvips): Lanczos3 to `width`
 * keeping the aspect ratio, JPEG quality 85. sharp's defaults otherwise (libvips threads = cores,
 * JPEG shrink-on-load on, as the Verge example also does).
 *
 * Usage: node dist/bench/peers/sharp-resize.js 127.0.0.1:PORT
 */
import { createServer } from 'node:http';
import sharp from 'sharp';

const [host, port] = (process.argv[2] ?? '127.0.0.1:3200').split(':');

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (req.method !== 'POST' || url.pathname !== '/resize') {
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"NOT_FOUND"}');
    return;
  }
  const width = Number(url.searchParams.get('width'));
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    sharp(Buffer.concat(chunks))
      .resize({ width, kernel: 'lanczos3' })
      .jpeg({ quality: 85 })
      .toBuffer()
      .then(
        (out) => res.writeHead(200, { 'content-type': 'image/jpeg', 'cache-control': 'public, max-age=86400' }).end(out),
        (err: Error) => res.writeHead(422, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'INVALID_IMAGE', message: err.message })),
      );
  });
});
server.listen(Number(port), host, () => process.stderr.write(`sharp peer on http://${host}:${port}\n`));
for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => server.close(() => process.exit(0)));
