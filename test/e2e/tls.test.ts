/**
 * TLS on both listeners: HTTPS and HTTP/2 served alike, SIGHUP swapping the certificate, bad files
 * failing the start, and the warning for a plain admin listener other machines can reach.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { FD_WRITE, environmentEcho, parseEnvironment, respondWith, sleeper, wat } from '../support/wat.js';
import { setHosts, writeApp } from '../support/app.js';
import { startVerge, upWithin, type VergeProcess } from '../support/verge-process.js';
import { selfSigned, tempDir, type TestCertificate } from '../support/tls.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function httpsRequest(url: string, ca: Buffer, opts: { method?: string; body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ca, method: opts.method ?? 'GET', timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('latin1').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within 10 s`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** One request on an HTTP/2 session; a body is sent without content-length, as HTTP/2 allows. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<Answer & { rstCode: number | undefined }> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let status = 0;
    let answerHeaders: Answer['headers'] = {};
    let text = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
      answerHeaders = h;
    });
    stream.setEncoding('latin1').on('data', (d: string) => (text += d));
    stream.on('close', () => resolve({ status, headers: answerHeaders, body: text, rstCode: stream.rstCode }));
    stream.on('error', (err: NodeJS.ErrnoException) => {
      // A reset stream still closes; the caller reads rstCode.
      if (err.code !== 'ERR_HTTP2_STREAM_ERROR') reject(err);
    });
    stream.setTimeout(10_000, () => stream.destroy(new Error('no HTTP/2 answer within 10 s')));
    if (body !== undefined) stream.end(body);
  });
}

/** A session, once the server's SETTINGS have arrived. */
async function h2Connect(url: string, ca: Buffer): Promise<http2.ClientHttp2Session> {
  const session = http2.connect(url, { ca });
  session.on('error', () => {});
  await once(session, 'remoteSettings');
  return session;
}

/** The certificate a fresh TLS connection is shown, and the protocol ALPN settled on. */
async function handshake(url: string, alpn: string[]): Promise<{ fingerprint: string; protocol: string | false | null }> {
  const { hostname, port } = new URL(url);
  const socket = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false, ALPNProtocols: alpn });
  try {
    await once(socket, 'secureConnect');
    return { fingerprint: socket.getPeerCertificate().fingerprint256, protocol: socket.alpnProtocol };
  } finally {
    socket.destroy();
  }
}

function fingerprint(cert: TestCertificate): string {
  return new X509Certificate(cert.pem).fingerprint256;
}

/** Polls `check` until it holds, for at most `ms`; never a fixed sleep. */
async function eventually(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the public listener over TLS', { concurrency: true }, () => {
  let cert: TestCertificate;
  let node: VergeProcess;
  before(async () => {
    cert = selfSigned(tempDir());
    const echo = await environmentEcho();
    const www = writeApp('www', {
      echo: { route: '/echo/...', wasm: echo, limits: 'max_request_bytes = 1000' },
      cookies: { route: '/cookies', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\nset-cookie: a=1\nSet-Cookie: b=2\n\nok')} (func (export "_start") (call $respond)))`) },
    });
    const api = writeApp('api', { api: { route: '/api-only', wasm: echo } });
    setHosts(api, '["api.example.com"]');
    node = await startVerge(www, [api, '--tls-cert', cert.cert, '--tls-key', cert.key]);
  });
  after(async () => {
    await node.stop();
  });

  test('the printed URL says https', () => {
    assert.match(node.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.match(node.stderr(), /echo: https:\/\/127\.0\.0\.1:\d+\/echo\/\.\.\./);
  });

  test('an HTTPS/1.1 request is served, and the guest sees https and HTTP/1.1', async () => {
    const res = await httpsRequest(`${node.url}/echo/a?x=1`, cert.pem);
    assert.equal(res.status, 200, res.body);
    assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    const env = parseEnvironment(res.body);
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.X_FULL_URL, `${node.url}/echo/a?x=1`);
  });

  test('ALPN picks h2 when the client offers it, and http/1.1 for a client that offers only that', async () => {
    assert.equal((await handshake(node.url, ['h2', 'http/1.1'])).protocol, 'h2');
    assert.equal((await handshake(node.url, ['http/1.1'])).protocol, 'http/1.1');
  });

  test('an HTTP/2 request is served: the guest sees its :authority as the host and none of its pseudo-headers', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      const res = await h2Request(session, { ':path': '/echo/a?x=1', 'x-custom': 'yes' });
      assert.equal(res.status, 200, res.body);
      assert.match(String(res.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const env = parseEnvironment(res.body);
      const authority = new URL(node.url).host;
      assert.equal(env.SERVER_PROTOCOL, 'HTTP/2.0');
      assert.equal(env.HTTP_HOST, authority);
      assert.equal(env.SERVER_NAME, '127.0.0.1');
      assert.equal(env.X_FULL_URL, `${node.url}/echo/a?x=1`);
      assert.equal(env.HTTP_X_CUSTOM, 'yes');
      assert.deepEqual(Object.keys(env).filter((k) => k.includes(':')), []);
    } finally {
      session.close();
    }
  });

  test('repeated response headers reach an HTTP/2 client as they reach an HTTP/1.1 one', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      const h2 = await h2Request(session, { ':path': '/cookies' });
      const h1 = await httpsRequest(`${node.url}/cookies`, cert.pem);
      for (const res of [h2, h1]) {
        assert.equal(res.status, 200, res.body);
        assert.deepEqual(res.headers['set-cookie'], ['a=1', 'b=2']);
        assert.equal(res.headers['content-length'], '2');
        assert.equal(res.body, 'ok');
      }
    } finally {
      session.close();
    }
  });

  test('an HTTP/2 request is routed by its :authority to the app bound to that host', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      const api = await h2Request(session, { ':path': '/api-only', ':authority': 'api.example.com' });
      assert.equal(api.status, 200, api.body);
      assert.equal(parseEnvironment(api.body).HTTP_HOST, 'api.example.com');
      const other = await h2Request(session, { ':path': '/api-only' });
      assert.equal(other.status, 404, 'the api app answers only api.example.com');
      assert.equal(JSON.parse(other.body).error, 'NOT_FOUND');
    } finally {
      session.close();
    }
  });

  test('an HTTP/2 body without content-length reaches the guest; one over max_request_bytes gets 413 and the session stays usable', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      const small = await h2Request(session, { ':path': '/echo/', ':method': 'POST' }, 'hello');
      assert.equal(small.status, 200, small.body);
      assert.equal(parseEnvironment(small.body).CONTENT_LENGTH, '5');
      const big = await h2Request(session, { ':path': '/echo/', ':method': 'POST' }, 'x'.repeat(5000));
      assert.equal(big.status, 413, big.body);
      assert.equal(JSON.parse(big.body).error, 'PAYLOAD_TOO_LARGE');
      assert.ok(big.rstCode === undefined || big.rstCode === http2.constants.NGHTTP2_NO_ERROR, `reset with ${big.rstCode}`);
      assert.equal((await h2Request(session, { ':path': '/echo/' })).status, 200);
    } finally {
      session.close();
    }
  });

  test('an HTTP/2 request whose connection is lost mid-body never reaches the guest with part of its body', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      const stream = session.request({ ':path': '/echo/reset', ':method': 'POST' }, { endStream: false });
      stream.on('error', () => {});
      stream.write('part of a body');
      await eventually('the server has the first bytes', () => stream.bufferSize === 0 && stream.writableLength === 0, 5_000);
      // Gone with the connection: stream.close() would end the body (END_STREAM) before its RST_STREAM.
      session.destroy();
      await eventually('the reset is logged', () => node.logs().some((l) => l.path === '/echo/reset'), 5_000);
      const line = node.logs().find((l) => l.path === '/echo/reset')!;
      assert.equal(line.error, 'BAD_REQUEST');
      assert.match(String(line.reason), /^the client reset the request after \d+ bytes of its body$/);
    } finally {
      session.close();
    }
  });

  test('HTTP/2 headers over 16 KiB reset the stream (the cap is advertised in SETTINGS), and the session stays usable', async () => {
    const session = await h2Connect(node.url, cert.pem);
    try {
      assert.equal(session.remoteSettings.maxHeaderListSize, 16 * 1024);
      const res = await h2Request(session, { ':path': '/echo/', 'x-big': 'a'.repeat(20_000) });
      assert.equal(res.status, 0, 'no answer reaches a reset stream');
      // Node submits ENHANCE_YOUR_CALM, but nghttp2 queues its own INTERNAL_ERROR reset for the refused header; when
      // the session is mid-write (a loaded machine), Node defers its reset and nghttp2's goes out first.
      assert.ok(
        [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, http2.constants.NGHTTP2_INTERNAL_ERROR].includes(res.rstCode ?? -1),
        `reset with code ${res.rstCode}`,
      );
      assert.equal((await h2Request(session, { ':path': '/echo/' })).status, 200);
    } finally {
      session.close();
    }
  });

  test('an HTTP/2 session with no open request is closed after the keep-alive bound', async () => {
    const session = await h2Connect(node.url, cert.pem);
    const started = Date.now();
    const closed = once(session, 'close');
    const guard = setTimeout(() => session.destroy(), 15_000);
    await closed;
    clearTimeout(guard);
    const ms = Date.now() - started;
    assert.ok(ms >= 4_000 && ms < 14_000, `closed after ${ms} ms`);
  });

  test('an HTTPS/1.1 client that never finishes its headers gets 408 REQUEST_TIMEOUT, as over plain HTTP', async () => {
    const { hostname, port } = new URL(node.url);
    const socket = tls.connect({ host: hostname, port: Number(port), ca: cert.pem, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    socket.write('GET /echo/ HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const started = Date.now();
    const guard = setTimeout(() => socket.destroy(), 30_000);
    await once(socket, 'close');
    clearTimeout(guard);
    assert.match(text, /^HTTP\/1.1 408 /);
    assert.match(text, /"error":"REQUEST_TIMEOUT"/);
    assert.ok(Date.now() - started < 15_000, `disconnected after ${Date.now() - started} ms`);
  });
});

describe('draining over HTTP/2', () => {
  test('SIGTERM lets an in-flight HTTP/2 request finish, then exits 0', async () => {
    const cert = selfSigned(tempDir());
    const node = await startVerge(writeApp('drain-h2', { s: { route: '/...', wasm: await sleeper(500) } }), ['--tls-cert', cert.cert, '--tls-key', cert.key], { admin: true });
    const session = await h2Connect(node.url, cert.pem);
    try {
      const inFlight = h2Request(session, { ':path': '/' });
      await eventually('the request is in flight', async () => /^verge_requests_in_flight 1$/m.test(await (await fetch(`${node.adminUrl}/metrics`)).text()), 5_000);
      const code = node.stop();
      const res = await inFlight;
      assert.equal(res.status, 200);
      assert.equal(res.body, 'slept');
      assert.equal(await code, 0);
    } finally {
      session.destroy();
      await node.stop();
    }
  });
});

describe('SIGHUP reloads the certificate', () => {
  test('a new connection sees the new certificate; a session opened before keeps working; a bad file keeps the current one', async () => {
    const dir = tempDir();
    const first = selfSigned(dir, 'first');
    const second = selfSigned(dir, 'second');
    const live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    const node = await startVerge(writeApp('reload', { s: { route: '/...', wasm: await sleeper(0) } }), ['--tls-cert', live.cert, '--tls-key', live.key]);
    const before = await h2Connect(node.url, first.pem);
    try {
      assert.equal((await handshake(node.url, ['h2'])).fingerprint, fingerprint(first));

      copyFileSync(second.cert, live.cert);
      copyFileSync(second.key, live.key);
      node.proc.kill('SIGHUP');
      await eventually('a new connection sees the second certificate', async () => (await handshake(node.url, ['h2'])).fingerprint === fingerprint(second));
      assert.match(node.stderr(), /SIGHUP: TLS certificates reloaded/);
      assert.equal((await h2Request(before, { ':path': '/' })).status, 200, 'the session opened before the reload is not dropped');
      assert.equal((await httpsRequest(`${node.url}/`, second.pem)).status, 200);

      writeFileSync(live.cert, 'not a certificate\n');
      node.proc.kill('SIGHUP');
      await eventually('the failed reload is logged', () => node.logs().some((l) => l.msg === 'tls reload failed; the listener keeps its current certificate'));
      const failure = node.logs().find((l) => l.msg === 'tls reload failed; the listener keeps its current certificate')!;
      assert.equal(failure.error, 'TLS_CONFIG_INVALID');
      assert.equal(failure.reason, `--tls-cert ${live.cert}: not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
      assert.equal((await handshake(node.url, ['h2'])).fingerprint, fingerprint(second));
      assert.equal((await httpsRequest(`${node.url}/`, second.pem)).status, 200);
      assert.equal(node.proc.exitCode, null, 'verge is still serving');
    } finally {
      before.destroy();
      await node.stop();
    }
  });
});

describe('TLS files that cannot be used', () => {
  let app: string;
  let cert: TestCertificate;
  before(async () => {
    app = writeApp('bad-tls', { s: { route: '/...', wasm: await wat(`(module ${FD_WRITE} (memory 1) ${respondWith('content-type: text/plain\n\nok')} (func (export "_start") (call $respond)))`) } });
    cert = selfSigned(tempDir());
  });

  test('a --tls-cert path that does not exist fails the start, naming the flag and the file', async () => {
    const missing = path.join(path.dirname(cert.cert), 'missing.crt');
    const run = await upWithin([app, '--listen', '127.0.0.1:0', '--tls-cert', missing, '--tls-key', cert.key], 20_000);
    assert.equal(run.killed, false, `verge up was still running after ${run.elapsedMs} ms:\n${run.stderr}`);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`--tls-cert ${missing.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: cannot read it: no such file`));
    assert.match(run.stderr, /\(TLS_CONFIG_INVALID\)/);
    assert.doesNotMatch(run.stderr, /Serving /);
  });

  test('--admin-tls-cert without --admin fails the start, saying what is missing', async () => {
    const run = await upWithin([app, '--listen', '127.0.0.1:0', '--admin-tls-cert', cert.cert, '--admin-tls-key', cert.key], 20_000);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /--admin-tls-cert and --admin-tls-key are for the admin listener: give --admin HOST:PORT too/);
  });

  test('--tls-key without --tls-cert fails the start, naming the missing flag', async () => {
    const run = await upWithin([app, '--listen', '127.0.0.1:0', '--tls-key', cert.key], 20_000);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /--tls-key is given without --tls-cert/);
  });
});

describe('the admin listener', () => {
  test('over TLS it serves /metrics on https while the public listener stays plain', async () => {
    const cert = selfSigned(tempDir());
    const app = writeApp('admin-tls', { s: { route: '/...', wasm: await sleeper(0) } });
    const node = await startVerge(app, ['--admin-tls-cert', cert.cert, '--admin-tls-key', cert.key], { admin: true });
    try {
      assert.match(node.adminUrl ?? '', /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.match(node.url, /^http:\/\//);
      const res = await httpsRequest(`${node.adminUrl}/metrics`, cert.pem);
      assert.equal(res.status, 200);
      assert.match(res.body, /verge_/);
      assert.doesNotMatch(node.stderr(), /Warning:/);
    } finally {
      await node.stop();
    }
  });

  test('off loopback without TLS it prints a warning at start-up; on loopback it does not', async () => {
    const app = writeApp('admin-open', { s: { route: '/...', wasm: await sleeper(0) } });
    // Off loopback the admin listener needs a token to start at all.
    const [open, local] = await Promise.all([
      startVerge(app, ['--admin', '0.0.0.0:0'], { env: { VERGE_ADMIN_TOKEN: 'a-token-of-sixteen-or-more' } }),
      startVerge(app, [], { admin: true }),
    ]);
    try {
      assert.match(open.stderr(), /Warning: the admin listener http:\/\/0\.0\.0\.0:\d+ is reachable from other machines and has no TLS/);
      assert.match(open.stderr(), /--admin-tls-cert and --admin-tls-key, or listen on 127\.0\.0\.1/);
      await eventually('the warning is logged', () => open.logs().some((l) => l.level === 'warn' && String(l.msg).startsWith('the admin listener')), 5_000);
      assert.doesNotMatch(local.stderr(), /Warning:/);
    } finally {
      await Promise.all([open.stop(), local.stop()]);
    }
  });
});
