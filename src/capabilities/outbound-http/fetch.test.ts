import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OutboundError } from './errors.js';
import { sendOutbound, type OutboundContext, type OutboundRequest } from './fetch.js';
import { createRequestBudget, outboundLimits, DEFAULT_OUTBOUND_LIMITS } from './limits.js';
import { createOutboundPolicy } from './policy.js';
import { TEST_CA_PEM, closedPort, listen, rejectsWith, type Listener } from './fixtures.js';

const loopbackPolicy = createOutboundPolicy(['http://127.0.0.1:*']);
const ctx = (extra: Partial<OutboundContext> = {}): OutboundContext => ({ policy: loopbackPolicy, limits: DEFAULT_OUTBOUND_LIMITS, ...extra });
const get = (url: string, headers: Array<[string, string]> = []): OutboundRequest => ({ method: 'GET', url, headers, body: new Uint8Array() });
const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const header = (headers: Array<[string, string]>, name: string): string[] => headers.filter(([n]) => n === name).map(([, v]) => v);


describe('sendOutbound: requests and responses', () => {
  let server: Listener;
  before(async () => {
    server = await listen((req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('no such thing');
        return;
      }
      if (req.url === '/cookies') {
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('X-Mixed-Case', 'yes');
        res.end();
        return;
      }
      if (req.url === '/utf8') {
        res.setHeader('x-word', Buffer.from('café ☕', 'utf8').toString('latin1'));
        res.end();
        return;
      }
      res.writeHead(201, { 'content-type': 'application/json', 'x-reply': 'hello' });
      res.end(JSON.stringify({ method: req.method, url: req.url, body: req.body.toString('utf8') }));
    });
  });
  after(() => server.close());

  test('a GET round-trips status, headers and body with an explicitly allowed loopback host', async () => {
    const res = await sendOutbound(get(`${server.origin}/hello?x=1`, [['X-Custom', 'one'], ['accept', 'application/json']]), ctx());
    assert.equal(res.status, 201);
    assert.deepEqual(header(res.headers, 'x-reply'), ['hello']);
    assert.deepEqual(header(res.headers, 'content-type'), ['application/json']);
    assert.deepEqual(JSON.parse(text(res.body)), { method: 'GET', url: '/hello?x=1', body: '' });
    const seen = server.received.at(-1)!;
    assert.equal(seen.headers['x-custom'], 'one');
    assert.equal(seen.headers['accept'], 'application/json');
    assert.equal(seen.headers['host'], `127.0.0.1:${server.port}`);
  });

  test('a POST sends its body and content type', async () => {
    const body = new TextEncoder().encode('{"n":42}');
    const res = await sendOutbound({ method: 'POST', url: `${server.origin}/things`, headers: [['content-type', 'application/json']], body }, ctx());
    assert.equal(res.status, 201);
    assert.deepEqual(JSON.parse(text(res.body)), { method: 'POST', url: '/things', body: '{"n":42}' });
    const seen = server.received.at(-1)!;
    assert.equal(seen.headers['content-type'], 'application/json');
    assert.equal(seen.headers['content-length'], '8');
  });

  test('a lower-case standard method is sent upper-case', async () => {
    await sendOutbound({ method: 'delete', url: `${server.origin}/x`, headers: [], body: new Uint8Array() }, ctx());
    assert.equal(server.received.at(-1)!.method, 'DELETE');
  });

  test('a 404 is a response, not an error', async () => {
    const res = await sendOutbound(get(`${server.origin}/missing`), ctx());
    assert.equal(res.status, 404);
    assert.equal(text(res.body), 'no such thing');
  });

  test('response header names are lower-case and a repeated header comes back once per value', async () => {
    const res = await sendOutbound(get(`${server.origin}/cookies`), ctx());
    assert.deepEqual(header(res.headers, 'set-cookie'), ['a=1', 'b=2']);
    assert.deepEqual(header(res.headers, 'x-mixed-case'), ['yes']);
    assert.ok(res.headers.every(([n]) => n === n.toLowerCase()));
  });

  test('UTF-8 header values travel as their UTF-8 bytes both ways', async () => {
    const res = await sendOutbound(get(`${server.origin}/utf8`, [['x-name', 'zoë ☕']]), ctx());
    assert.deepEqual(header(res.headers, 'x-word'), ['café ☕']);
    const raw = server.received.at(-1)!.headers['x-name'] as string;
    assert.equal(Buffer.from(raw, 'latin1').toString('utf8'), 'zoë ☕');
  });

  test('the fragment of the URL is not sent', async () => {
    await sendOutbound(get(`${server.origin}/frag?a=b#section`), ctx());
    assert.equal(server.received.at(-1)!.url, '/frag?a=b');
  });
});

describe('sendOutbound: https', () => {
  let server: Listener;
  before(async () => {
    server = await listen((req, res) => res.end(`secure ${req.headers['host']}`), { tls: true });
  });
  after(() => server.close());

  const lookup = async () => [{ address: '127.0.0.1', family: 4 }];

  test('https to a host name goes to the checked address and verifies the certificate for the name', async () => {
    const targets: string[][] = [];
    const res = await sendOutbound(get(`https://api.verge.test:${server.port}/`), {
      policy: createOutboundPolicy(['https://api.verge.test:*']),
      lookup,
      ca: TEST_CA_PEM,
      onConnect: (t) => targets.push([t.hostname, ...t.addresses]),
    });
    assert.equal(res.status, 200);
    assert.equal(text(res.body), `secure api.verge.test:${server.port}`);
    assert.deepEqual(targets, [['api.verge.test', '127.0.0.1']]);
  });

  test('https to an IP literal verifies the certificate for the address', async () => {
    const res = await sendOutbound(get(`https://127.0.0.1:${server.port}/`), { policy: createOutboundPolicy(['https://127.0.0.1:*']), ca: TEST_CA_PEM });
    assert.equal(text(res.body), `secure 127.0.0.1:${server.port}`);
  });

  test('a certificate that does not verify is a NETWORK error', async () => {
    await rejectsWith(
      sendOutbound(get(`https://api.verge.test:${server.port}/`), { policy: createOutboundPolicy(['https://api.verge.test:*']), lookup }),
      'NETWORK',
      /https:\/\/api\.verge\.test:\d+\/ failed: .*certificate/i,
    );
  });

  test('a certificate for another name is a NETWORK error', async () => {
    await rejectsWith(
      sendOutbound(get(`https://other.verge.test:${server.port}/`), { policy: createOutboundPolicy(['https://other.verge.test:*']), lookup, ca: TEST_CA_PEM }),
      'NETWORK',
      /other\.verge\.test/,
    );
  });
});

describe('sendOutbound: redirects', () => {
  let a: Listener;
  let b: Listener;
  before(async () => {
    b = await listen((req, res) => {
      if (req.url === '/go-relative') res.writeHead(302, { location: '/landed-on-b' }).end();
      else res.end(JSON.stringify({ at: 'b', method: req.method, url: req.url, body: req.body.toString(), auth: req.headers['authorization'] ?? null, type: req.headers['content-type'] ?? null }));
    });
    a = await listen((req, res) => {
      const url = new URL(req.url, 'http://x');
      const hop = url.pathname.match(/^\/hop\/(\d+)$/);
      if (hop) {
        const n = Number(hop[1]);
        if (n > 0) res.writeHead(302, { location: `/hop/${n - 1}` }).end();
        else res.end('arrived');
      } else if (url.pathname === '/dir/sub/page') res.writeHead(301, { location: 'sibling?q=1' }).end();
      else if (url.pathname === '/dir/sub/up') res.writeHead(301, { location: '../top' }).end();
      else if (url.pathname === '/to-b') res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: `${b.origin}${url.searchParams.get('path') ?? '/'}` }).end();
      else if (url.pathname === '/to-scheme') res.writeHead(302, { location: 'ftp://example.com/' }).end();
      else if (url.pathname === '/no-location') res.writeHead(302).end('stay');
      else res.end(JSON.stringify({ at: 'a', method: req.method, url: req.url, body: req.body.toString() }));
    });
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('a chain of 10 redirects is followed', async () => {
    const res = await sendOutbound(get(`${a.origin}/hop/10`), ctx());
    assert.equal(res.status, 200);
    assert.equal(text(res.body), 'arrived');
  });

  test('the 11th redirect is a NETWORK error naming the limit', async () => {
    const before = a.received.length;
    await rejectsWith(sendOutbound(get(`${a.origin}/hop/11`), ctx()), 'NETWORK', /too many redirects \(limit 10\)/);
    assert.equal(a.received.length - before, 11);
  });

  test('the redirect limit is configurable', async () => {
    await rejectsWith(sendOutbound(get(`${a.origin}/hop/3`), ctx({ limits: outboundLimits({ maxRedirects: 2 }) })), 'NETWORK', /too many redirects \(limit 2\)/);
  });

  test('a relative Location resolves against the URL of the request that got it', async () => {
    let res = await sendOutbound(get(`${a.origin}/dir/sub/page`), ctx());
    assert.equal(JSON.parse(text(res.body)).url, '/dir/sub/sibling?q=1');
    res = await sendOutbound(get(`${a.origin}/dir/sub/up`), ctx());
    assert.equal(JSON.parse(text(res.body)).url, '/dir/top');
    res = await sendOutbound(get(`${a.origin}/to-b?path=/go-relative`), ctx());
    assert.deepEqual(JSON.parse(text(res.body)).at, 'b');
    assert.equal(JSON.parse(text(res.body)).url, '/landed-on-b');
  });

  test('303 turns a POST into a GET without its body', async () => {
    const body = new TextEncoder().encode('payload');
    const res = await sendOutbound({ method: 'POST', url: `${a.origin}/to-b?status=303&path=/after`, headers: [['content-type', 'text/plain']], body }, ctx());
    assert.deepEqual(JSON.parse(text(res.body)), { at: 'b', method: 'GET', url: '/after', body: '', auth: null, type: null });
  });

  test('301 and 302 turn a POST into a GET without its body', async () => {
    for (const status of [301, 302]) {
      const body = new TextEncoder().encode('payload');
      const res = await sendOutbound({ method: 'POST', url: `${a.origin}/to-b?status=${status}&path=/after`, headers: [], body }, ctx());
      const seen = JSON.parse(text(res.body));
      assert.equal(seen.method, 'GET', `status ${status}`);
      assert.equal(seen.body, '', `status ${status}`);
    }
  });

  test('307 and 308 keep the method and the body', async () => {
    for (const status of [307, 308]) {
      const body = new TextEncoder().encode('payload');
      const res = await sendOutbound({ method: 'PUT', url: `${a.origin}/to-b?status=${status}&path=/kept`, headers: [['content-type', 'text/plain']], body }, ctx());
      const seen = JSON.parse(text(res.body));
      assert.equal(seen.method, 'PUT');
      assert.equal(seen.body, 'payload');
      assert.equal(seen.type, 'text/plain');
    }
  });

  test('the authorization header is not sent on to another origin', async () => {
    const res = await sendOutbound(get(`${a.origin}/to-b?path=/creds`, [['authorization', 'Bearer secret']]), ctx());
    assert.equal(JSON.parse(text(res.body)).auth, null);
  });

  test('a redirect without a Location is the response', async () => {
    const res = await sendOutbound(get(`${a.origin}/no-location`), ctx());
    assert.equal(res.status, 302);
    assert.equal(text(res.body), 'stay');
  });

  test('a redirect to a scheme other than http or https is a NETWORK error', async () => {
    await rejectsWith(sendOutbound(get(`${a.origin}/to-scheme`), ctx({ policy: createOutboundPolicy(['http://127.0.0.1:*', '*://*:*']) })), 'NETWORK', /ftp: URL, not http or https/);
  });
});

describe('sendOutbound: limits and failures', () => {
  let server: Listener;
  let hung: Array<() => void> = [];
  before(async () => {
    server = await listen((req, res) => {
      if (req.url === '/big') res.writeHead(200, { 'content-length': String(2048) }).end(Buffer.alloc(2048, 'x'));
      else if (req.url === '/big-chunked') {
        res.writeHead(200);
        for (let i = 0; i < 8; i++) res.write(Buffer.alloc(512, 'y'));
        res.end();
      } else if (req.url === '/exact') res.end(Buffer.alloc(1024, 'z'));
      else if (req.url === '/hang') hung.push(() => res.end());
      else if (req.url === '/hang-body') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        hung.push(() => res.destroy());
      } else if (req.url === '/reset') res.socket?.destroy();
      else res.end('ok');
    });
  });
  after(async () => {
    for (const h of hung) h();
    hung = [];
    await server.close();
  });

  test('a response over the cap is LIMIT_EXCEEDED stating the limit', async () => {
    const limits = outboundLimits({ maxResponseBytes: 1024 });
    await rejectsWith(sendOutbound(get(`${server.origin}/big`), ctx({ limits })), 'LIMIT_EXCEEDED', /larger than the limit of 1 KiB \(maxResponseBytes\)/);
    await rejectsWith(sendOutbound(get(`${server.origin}/big-chunked`), ctx({ limits })), 'LIMIT_EXCEEDED', /larger than the limit of 1 KiB/);
    const res = await sendOutbound(get(`${server.origin}/exact`), ctx({ limits }));
    assert.equal(res.body.byteLength, 1024);
  });

  test('a HEAD response may announce a body larger than the cap', async () => {
    const res = await sendOutbound({ method: 'HEAD', url: `${server.origin}/big`, headers: [], body: new Uint8Array() }, ctx({ limits: outboundLimits({ maxResponseBytes: 1024 }) }));
    assert.equal(res.status, 200);
    assert.deepEqual(header(res.headers, 'content-length'), ['2048']);
    assert.equal(res.body.byteLength, 0);
  });

  test('the response body has an ArrayBuffer of its own', async () => {
    const res = await sendOutbound(get(`${server.origin}/`), ctx());
    assert.equal(res.body.byteOffset, 0);
    assert.equal(res.body.buffer.byteLength, res.body.byteLength);
  });

  test('a request body over the cap is LIMIT_EXCEEDED and nothing is sent', async () => {
    const before = server.connections();
    const limits = outboundLimits({ maxRequestBodyBytes: 10 });
    await rejectsWith(
      sendOutbound({ method: 'POST', url: `${server.origin}/`, headers: [], body: new Uint8Array(11) }, ctx({ limits })),
      'LIMIT_EXCEEDED',
      /11 bytes, over the limit of 10 bytes \(maxRequestBodyBytes\)/,
    );
    assert.equal(server.connections(), before);
  });

  test('a server that does not answer in time is TIMEOUT', async () => {
    const started = Date.now();
    await rejectsWith(sendOutbound(get(`${server.origin}/hang`), ctx({ limits: outboundLimits({ timeoutMs: 150 }) })), 'TIMEOUT', /\/hang did not answer within 150 ms/);
    assert.ok(Date.now() - started < 5000);
  });

  test('a body that stops arriving is TIMEOUT', async () => {
    await rejectsWith(sendOutbound(get(`${server.origin}/hang-body`), ctx({ limits: outboundLimits({ timeoutMs: 150 }) })), 'TIMEOUT');
  });

  test('a DNS lookup that does not answer in time is TIMEOUT', async () => {
    const lookup = () => new Promise<never>(() => {});
    await rejectsWith(
      sendOutbound(get('http://slow-dns.test/'), { policy: createOutboundPolicy(['http://slow-dns.test']), limits: outboundLimits({ timeoutMs: 100 }), lookup }),
      'TIMEOUT',
    );
  });

  test('a refused connection is NETWORK', async () => {
    const port = await closedPort();
    await rejectsWith(sendOutbound(get(`http://127.0.0.1:${port}/`), ctx()), 'NETWORK', new RegExp(`127\\.0\\.0\\.1:${port}/ failed: connection refused`));
  });

  test('a connection closed before the response is NETWORK', async () => {
    await rejectsWith(sendOutbound(get(`${server.origin}/reset`), ctx()), 'NETWORK', /\/reset failed/);
  });

  test('a DNS failure is NETWORK naming the host', async () => {
    const lookup = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.test'), { code: 'ENOTFOUND' });
    };
    await rejectsWith(sendOutbound(get('http://nowhere.test/'), { policy: createOutboundPolicy(['http://nowhere.test']), lookup }), 'NETWORK', /DNS lookup of nowhere\.test failed \(ENOTFOUND\)/);
  });

  test('aborting the signal stops a call in flight', async () => {
    const controller = new AbortController();
    const hangsBefore = hung.length;
    const pending = sendOutbound(get(`${server.origin}/hang`), ctx({ signal: controller.signal }));
    while (hung.length === hangsBefore) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    controller.abort();
    await rejectsWith(pending, 'TIMEOUT', /cancelled: the inbound request ended/);
    assert.ok(Date.now() - started < 5000);
  });

  test('a call made after the signal was aborted does not start', async () => {
    const controller = new AbortController();
    controller.abort();
    const before = server.connections();
    await rejectsWith(sendOutbound(get(`${server.origin}/`), ctx({ signal: controller.signal })), 'TIMEOUT', /cancelled/);
    assert.equal(server.connections(), before);
  });
});

describe('sendOutbound: input validation', () => {
  let server: Listener;
  before(async () => {
    server = await listen();
  });
  after(() => server.close());

  const invalid = async (req: OutboundRequest, message: RegExp): Promise<void> => {
    await rejectsWith(sendOutbound(req, ctx()), 'INVALID_ARGUMENT', message);
  };

  test('CR, LF or NUL in a header value, header name, URL or method is INVALID_ARGUMENT and nothing is sent', async () => {
    const url = `${server.origin}/`;
    await invalid(get(url, [['x-a', 'ok\r\nx-injected: 1']]), /header x-a has a control character/);
    await invalid(get(url, [['x-a', 'ok\nx-injected: 1']]), /control character/);
    await invalid(get(url, [['x-a', 'nul\0']]), /control character/);
    await invalid(get(url, [['x-a\r\nx-injected', '1']]), /header name "x-a\\r\\nx-injected" is not an HTTP token/);
    await invalid(get(url, [['bad name', '1']]), /not an HTTP token/);
    await invalid(get(url, [['', '1']]), /not an HTTP token/);
    await invalid(get(`${url}a\r\nx-injected: 1`), /contains a control character/);
    await invalid(get(`${url}a\nb`), /contains a control character/);
    await invalid(get(`${url}a\tb`), /contains a control character/);
    await invalid(get(`${url}a%00`.replace('%00', '\0')), /contains a control character/);
    await invalid({ method: 'GET\r\nX: y', url, headers: [], body: new Uint8Array() }, /method "GET\\r\\nX: y" is not an HTTP method/);
    await invalid({ method: 'GET /x HTTP/1.1', url, headers: [], body: new Uint8Array() }, /is not an HTTP method/);
    await invalid({ method: '', url, headers: [], body: new Uint8Array() }, /is not an HTTP method/);
    assert.equal(server.connections(), 0);
  });

  test('a relative URL is INVALID_ARGUMENT and never resolved', async () => {
    for (const url of ['/admin', 'admin', '//127.0.0.1/admin', '?x=1', '']) {
      await invalid(get(url), /is not an absolute http:\/\/ or https:\/\/ URL/);
    }
    assert.equal(server.connections(), 0);
  });

  test('a URL with another scheme is INVALID_ARGUMENT', async () => {
    for (const url of ['file:///etc/passwd', 'ftp://127.0.0.1/', 'data:text/plain,hi', 'gopher://127.0.0.1:70/']) {
      await invalid(get(url), /is not an absolute http:\/\/ or https:\/\/ URL/);
    }
  });

  test('a URL with user info is INVALID_ARGUMENT', async () => {
    await invalid(get(`http://user:pw@127.0.0.1:${server.port}/`), /carries user info/);
  });

  test('CONNECT, TRACE and TRACK are INVALID_ARGUMENT', async () => {
    for (const method of ['CONNECT', 'trace', 'TRACK']) {
      await invalid({ method, url: `${server.origin}/`, headers: [], body: new Uint8Array() }, /is not allowed for outbound requests/);
    }
  });

  test('hop-by-hop and framing headers are refused, not dropped', async () => {
    for (const name of ['Host', 'connection', 'Content-Length', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'keep-alive', 'expect', 'proxy-authorization', 'Proxy-Connection']) {
      await invalid(get(`${server.origin}/`, [[name, 'x']]), new RegExp(`header ${name.toLowerCase()} may not be set by the guest`));
    }
    assert.equal(server.connections(), 0);
  });

  test('validation errors come before the policy check', async () => {
    await rejectsWith(sendOutbound(get('http://not-allowed.test/\r\n'), ctx()), 'INVALID_ARGUMENT');
  });
});

describe('createRequestBudget', () => {
  let server: Listener;
  before(async () => {
    server = await listen();
  });
  after(() => server.close());

  test('allows 50 calls and refuses the 51st with LIMIT_EXCEEDED', () => {
    const budget = createRequestBudget();
    for (let i = 0; i < 50; i++) budget.take();
    assert.equal(budget.used, 50);
    assert.throws(() => budget.take(), (err: unknown) => err instanceof OutboundError && err.code === 'LIMIT_EXCEEDED' && err.message === 'at most 50 outbound requests per request');
  });

  test('a budget in the context counts each call and the one over the limit sends nothing', async () => {
    const budget = createRequestBudget(2);
    await sendOutbound(get(`${server.origin}/1`), ctx({ budget }));
    await sendOutbound(get(`${server.origin}/2`), ctx({ budget }));
    await rejectsWith(sendOutbound(get(`${server.origin}/3`), ctx({ budget })), 'LIMIT_EXCEEDED', /at most 2 outbound requests per request/);
    assert.deepEqual(server.received.map((r) => r.url), ['/1', '/2']);
  });
});

