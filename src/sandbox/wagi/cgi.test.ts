import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { VergeError } from '../../errors.js';
import type { GuestRequest } from '../../dispatch/protocol.js';
import { cgiEnvironment, paramVariable, parseCgiResponse, writeWagiArgv } from './cgi.js';

function request(overrides: Partial<GuestRequest> = {}): GuestRequest {
  return {
    id: 'req-1',
    version: 'v1',
    component: 'api',
    method: 'GET',
    url: '/api/users/42?x=1&y=two',
    scheme: 'http',
    httpVersion: '1.1',
    rawHeaders: ['Host', 'example.test:8080', 'Accept', 'text/html'],
    remoteAddr: '203.0.113.9',
    serverName: 'example.test',
    serverPort: '8080',
    route: '/api/users/:id',
    scriptName: '/api/users/42',
    pathInfo: '',
    params: [['id', '42']],
    body: new Uint8Array(0),
    ...overrides,
  };
}

function envOf(req: GuestRequest): Map<string, string> {
  const env = cgiEnvironment(req);
  const names = env.map(([k]) => k);
  assert.equal(new Set(names).size, names.length, `duplicate variables: ${names.join(', ')}`);
  return new Map(env);
}

const bytes = (s: string) => new Uint8Array(Buffer.from(s, 'latin1'));
const text = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const CAP = 1024 * 1024;

function parse(out: string | Uint8Array, cap = CAP) {
  return parseCgiResponse(typeof out === 'string' ? bytes(out) : out, cap);
}

/** Runs `fn`, expects a VergeError with `code` and returns its message. */
function vergeError(code: string, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VergeError, `expected a VergeError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected a ${code} error`);
}

const badResponse = (out: string | Uint8Array) => vergeError('GUEST_BAD_RESPONSE', () => parse(out));

describe('cgiEnvironment', () => {
  test('sets the CGI request variables', () => {
    const env = envOf(
      request({ method: 'POST', body: new Uint8Array(5), rawHeaders: ['Content-Type', 'application/json', 'Content-Length', '5'] }),
    );
    assert.equal(env.get('GATEWAY_INTERFACE'), 'CGI/1.1');
    assert.equal(env.get('SERVER_PROTOCOL'), 'HTTP/1.1');
    assert.equal(env.get('REQUEST_METHOD'), 'POST');
    assert.equal(env.get('REQUEST_URI'), '/api/users/42?x=1&y=two');
    assert.equal(env.get('SCRIPT_NAME'), '/api/users/42');
    assert.equal(env.get('PATH_INFO'), '');
    assert.equal(env.get('QUERY_STRING'), 'x=1&y=two');
    assert.equal(env.get('CONTENT_TYPE'), 'application/json');
    assert.equal(env.get('CONTENT_LENGTH'), '5');
    assert.equal(env.get('SERVER_NAME'), 'example.test');
    assert.equal(env.get('SERVER_PORT'), '8080');
    assert.equal(env.get('REMOTE_ADDR'), '203.0.113.9');
    assert.equal(env.get('X_MATCHED_ROUTE'), '/api/users/:id');
    assert.equal(env.get('X_FULL_URL'), 'http://example.test:8080/api/users/42?x=1&y=two');
    assert.equal(env.get('X_VERGE_REQUEST_ID'), 'req-1');
  });

  test('X_FULL_URL starts with https:// for a request that came over TLS', () => {
    assert.equal(envOf(request({ scheme: 'https' })).get('X_FULL_URL'), 'https://example.test:8080/api/users/42?x=1&y=two');
  });

  test('passes SCRIPT_NAME and PATH_INFO from the route match', () => {
    const env = envOf(request({ url: '/api/a/b', route: '/api/...', scriptName: '/api', pathInfo: '/a/b', params: [] }));
    assert.equal(env.get('SCRIPT_NAME'), '/api');
    assert.equal(env.get('PATH_INFO'), '/a/b');
  });

  test('sets an empty QUERY_STRING when the URL has no query, and keeps an empty query empty', () => {
    assert.equal(envOf(request({ url: '/a' })).get('QUERY_STRING'), '');
    assert.equal(envOf(request({ url: '/a?' })).get('QUERY_STRING'), '');
  });

  test('takes QUERY_STRING from the first "?" and leaves it encoded', () => {
    assert.equal(envOf(request({ url: '/a?q=a%20b?c&d=%2F' })).get('QUERY_STRING'), 'q=a%20b?c&d=%2F');
  });

  test('sets CONTENT_LENGTH from the body actually received, not from the header', () => {
    const env = envOf(request({ body: new Uint8Array(3), rawHeaders: ['Content-Length', '999'] }));
    assert.equal(env.get('CONTENT_LENGTH'), '3');
    assert.equal(envOf(request()).get('CONTENT_LENGTH'), '0');
  });

  test('sets an empty CONTENT_TYPE when the request has none', () => {
    assert.equal(envOf(request()).get('CONTENT_TYPE'), '');
  });

  test('does not duplicate content-type and content-length as HTTP_ variables', () => {
    const env = envOf(request({ rawHeaders: ['content-type', 'text/plain', 'CONTENT-LENGTH', '4'], body: new Uint8Array(4) }));
    assert.equal(env.get('CONTENT_TYPE'), 'text/plain');
    assert.equal(env.has('HTTP_CONTENT_TYPE'), false);
    assert.equal(env.has('HTTP_CONTENT_LENGTH'), false);
  });

  test('passes other headers as HTTP_ variables, upper-cased with "-" as "_"', () => {
    const env = envOf(request({ rawHeaders: ['Host', 'example.test', 'X-Forwarded-For', '198.51.100.1', 'user-agent', 'curl/8'] }));
    assert.equal(env.get('HTTP_HOST'), 'example.test');
    assert.equal(env.get('HTTP_X_FORWARDED_FOR'), '198.51.100.1');
    assert.equal(env.get('HTTP_USER_AGENT'), 'curl/8');
  });

  test('joins repeated headers with ", " in arrival order, whatever their case', () => {
    const env = envOf(request({ rawHeaders: ['Accept', 'text/html', 'X-Tag', 'a', 'accept', 'application/json', 'x-tag', 'b', 'X-TAG', 'c'] }));
    assert.equal(env.get('HTTP_ACCEPT'), 'text/html, application/json');
    assert.equal(env.get('HTTP_X_TAG'), 'a, b, c');
  });

  test('maps every header name right when requests bring more distinct names than are remembered', () => {
    // Names are remembered between requests (256 at most): past that, the memory starts again.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 600; i += 3) {
        const names = [`X-Made-Up-${i}`, `x-made-up-${i + 1}`, `X-MADE-UP-${i + 2}`];
        const env = envOf(request({ rawHeaders: names.flatMap((n) => [n, `v${round}`]) }));
        for (let k = 0; k < 3; k++) assert.equal(env.get(`HTTP_X_MADE_UP_${i + k}`), `v${round}`);
      }
    }
  });

  test('joins repeated cookie headers with "; "', () => {
    const env = envOf(request({ rawHeaders: ['Cookie', 'a=1', 'cookie', 'b=2; c=3'] }));
    assert.equal(env.get('HTTP_COOKIE'), 'a=1; b=2; c=3');
  });

  test('keeps an empty header value', () => {
    assert.equal(envOf(request({ rawHeaders: ['X-Empty', ''] })).get('HTTP_X_EMPTY'), '');
  });

  test('sets X_VERGE_PARAM_ variables for route parameters, upper-cased', () => {
    const env = envOf(request({ params: [['id', '42'], ['post_id', 'café/1']] }));
    assert.equal(env.get('X_VERGE_PARAM_ID'), '42');
    assert.equal(env.get('X_VERGE_PARAM_POST_ID'), 'café/1');
  });

  test('sets no X_VERGE_PARAM_ variables without parameters', () => {
    const env = cgiEnvironment(request({ params: [] }));
    assert.equal(env.filter(([k]) => k.startsWith('X_VERGE_PARAM_')).length, 0);
  });

  test('paramVariable upper-cases and replaces anything but letters, digits and "_"', () => {
    assert.equal(paramVariable('userId'), 'USERID');
    assert.equal(paramVariable('post_id2'), 'POST_ID2');
    assert.equal(paramVariable('a-b.c'), 'A_B_C');
  });

  test('passes the HTTP version through SERVER_PROTOCOL', () => {
    assert.equal(envOf(request({ httpVersion: '1.0' })).get('SERVER_PROTOCOL'), 'HTTP/1.0');
  });
});

describe('writeWagiArgv', () => {
  const argvOf = (req: GuestRequest) => {
    const args: string[] = [];
    writeWagiArgv(req, (a) => args.push(a));
    return args;
  };

  test('passes the request path, then each query item, as WAGI does', () => {
    assert.deepEqual(argvOf(request({ url: '/test?abc=def', scriptName: '/test', pathInfo: '' })), ['/test', 'abc=def']);
  });

  test('splits the query on "&" and leaves items percent-encoded', () => {
    const req = request({ url: '/api/a%20b/c?x=1&y=%2F+z&flag', route: '/api/...', scriptName: '/api', pathInfo: '/a%20b/c' });
    assert.deepEqual(argvOf(req), ['/api/a%20b/c', 'x=1', 'y=%2F+z', 'flag']);
  });

  test('passes the path alone without a query or with an empty one', () => {
    assert.deepEqual(argvOf(request({ url: '/api/users/42' })), ['/api/users/42']);
    assert.deepEqual(argvOf(request({ url: '/api/users/42?' })), ['/api/users/42']);
  });

  test('keeps empty items between "&"s, as splitting the query does', () => {
    assert.deepEqual(argvOf(request({ url: '/api/users/42?a&&b&' })), ['/api/users/42', 'a', '', 'b', '']);
  });
});

describe('parseCgiResponse: headers and status', () => {
  test('parses LF-separated headers and the body', () => {
    const r = parse('Content-Type: text/plain\nX-A: 1\n\nhello');
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain', 'X-A', '1']);
    assert.equal(text(r.body), 'hello');
  });

  test('parses CRLF-separated headers and the body', () => {
    const r = parse('Content-Type: text/plain\r\nX-A: 1\r\n\r\nhello\r\n');
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain', 'X-A', '1']);
    assert.equal(text(r.body), 'hello\r\n');
  });

  test('accepts a mix of CRLF and LF line ends', () => {
    const r = parse('Content-Type: text/plain\r\nX-A: 1\n\r\nbody');
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain', 'X-A', '1']);
    assert.equal(text(r.body), 'body');
  });

  test('takes the status from a Status header with a reason phrase', () => {
    const r = parse('Status: 201 Created\nContent-Type: application/json\n\n{}');
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers, ['Content-Type', 'application/json']);
  });

  test('takes the status from a bare Status code', () => {
    assert.equal(parse('Status: 404\nContent-Type: text/plain\n\n').status, 404);
  });

  test('matches the Status header name case-insensitively and does not forward it', () => {
    const r = parse('STATUS: 418 I am a teapot\ncontent-type: text/plain\n\n');
    assert.equal(r.status, 418);
    assert.deepEqual(r.headers, ['content-type', 'text/plain']);
  });

  test('accepts a Status header alone (no content-type needed)', () => {
    const r = parse('Status: 204 No Content\n\n');
    assert.equal(r.status, 204);
    assert.deepEqual(r.headers, []);
    assert.equal(r.body.length, 0);
  });

  test('accepts the lowest and highest allowed status codes', () => {
    assert.equal(parse('Status: 200\n\n').status, 200);
    assert.equal(parse('Status: 599\n\n').status, 599);
  });

  test('answers 302 for a Location without a Status, and forwards the Location', () => {
    const r = parse('Location: https://example.test/next\n\n');
    assert.equal(r.status, 302);
    assert.deepEqual(r.headers, ['Location', 'https://example.test/next']);
  });

  test('keeps an explicit Status with a Location', () => {
    assert.equal(parse('Status: 301 Moved Permanently\nLocation: /new\n\n').status, 301);
    assert.equal(parse('Location: /new\nStatus: 307\n\n').status, 307);
  });

  test('defaults to 200 with a content-type and no Status', () => {
    assert.equal(parse('Content-Type: text/html\n\n<p>').status, 200);
  });

  test('trims whitespace around header values and keeps inner spaces', () => {
    const r = parse('Content-Type:   text/plain; charset=utf-8  \nX-Empty:\n\n');
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain; charset=utf-8', 'X-Empty', '']);
  });

  test('keeps a colon inside a header value', () => {
    const r = parse('Content-Type: text/plain\nX-Time: 12:30:45\n\n');
    assert.deepEqual(r.headers.slice(2), ['X-Time', '12:30:45']);
  });

  test('keeps repeated headers such as set-cookie, in order, with their original case', () => {
    const r = parse('Content-Type: text/plain\nSet-Cookie: a=1\nset-cookie: b=2\n\n');
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2']);
  });

  test('accepts obs-text (bytes 0x80-0xff) in a header value as latin1', () => {
    const r = parse(Uint8Array.from([...bytes('Content-Type: text/plain\nX-Name: caf'), 0xe9, ...bytes('!\n\n')]));
    assert.deepEqual(r.headers.slice(2), ['X-Name', 'caf\u00e9!']);
  });

  test('drops hop-by-hop headers, content-length and x-request-id the guest sets', () => {
    const out = [
      'Content-Type: text/plain',
      'Connection: close',
      'Keep-Alive: timeout=5',
      'Transfer-Encoding: chunked',
      'TE: trailers',
      'Trailer: X-Sum',
      'Upgrade: websocket',
      'Proxy-Connection: keep-alive',
      'Content-Length: 99',
      'X-Request-Id: forged',
      'X-Kept: yes',
      '',
      'body',
    ].join('\n');
    const r = parse(out);
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain', 'X-Kept', 'yes']);
    assert.equal(text(r.body), 'body');
  });
});

describe('parseCgiResponse: the body', () => {
  test('preserves every byte of a binary body exactly', () => {
    const body = new Uint8Array(256 * 4);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const out = Uint8Array.from([...bytes('Content-Type: application/octet-stream\r\n\r\n'), ...body]);
    const r = parse(out);
    assert.deepEqual(r.body, body);
  });

  test('preserves a body that starts with blank lines and holds CR, LF and NUL bytes', () => {
    const body = Uint8Array.from([0x0a, 0x0d, 0x0a, 0x00, 0xff, 0x0a, 0x0a]);
    const r = parse(Uint8Array.from([...bytes('Content-Type: x/y\n\n'), ...body]));
    assert.deepEqual(r.body, body);
  });

  test('returns an empty body when nothing follows the blank line', () => {
    assert.equal(parse('Content-Type: text/plain\n\n').body.length, 0);
  });

  test('reads correctly from a view with an offset into a larger buffer', () => {
    const backing = new Uint8Array(100).fill(0x41);
    const payload = bytes('Status: 202\nContent-Type: text/plain\n\nok');
    backing.set(payload, 10);
    const r = parseCgiResponse(backing.subarray(10, 10 + payload.length), CAP);
    assert.equal(r.status, 202);
    assert.deepEqual(r.headers, ['Content-Type', 'text/plain']);
    assert.equal(text(r.body), 'ok');
  });

  test('accepts a body exactly at the cap', () => {
    const r = parse('Content-Type: text/plain\n\n' + 'x'.repeat(100), 100);
    assert.equal(r.body.length, 100);
  });

  test('rejects a body over the cap with RESPONSE_TOO_LARGE naming the sizes', () => {
    const msg = vergeError('RESPONSE_TOO_LARGE', () => parse('Content-Type: text/plain\n\n' + 'x'.repeat(101), 100));
    assert.match(msg, /101-byte body/);
    assert.match(msg, /max_response_bytes is 100/);
  });

  test('does not count the header block against the body cap', () => {
    const r = parse('Content-Type: text/plain\nX-Long: ' + 'h'.repeat(500) + '\n\nabc', 3);
    assert.equal(text(r.body), 'abc');
  });
});

describe('parseCgiResponse: malformed responses (GUEST_BAD_RESPONSE)', () => {
  test('rejects empty stdout', () => {
    assert.match(badResponse(''), /wrote nothing to stdout/);
  });

  test('rejects output without a blank line after the headers', () => {
    assert.match(badResponse('Content-Type: text/plain\n'), /no blank line ends the CGI headers/);
    assert.match(badResponse('Content-Type: text/plain\nhello'), /no blank line/);
    assert.match(badResponse('hello world'), /no blank line/);
  });

  test('rejects a header block that does not end within 64 KiB', () => {
    const out = 'Content-Type: text/plain\n' + ('X-Pad: ' + 'p'.repeat(90) + '\n').repeat(800) + '\nbody';
    assert.ok(out.length > 64 * 1024);
    assert.match(badResponse(out), /within the first 65536 bytes/);
  });

  test('rejects a header line without a colon', () => {
    assert.match(badResponse('Content-Type: text/plain\nnot a header\n\n'), /header line without a name and a colon: "not a header"/);
  });

  test('rejects a header line that starts with a colon', () => {
    assert.match(badResponse(': value\nContent-Type: text/plain\n\n'), /without a name and a colon/);
  });

  test('rejects a body written before any header (a blank line not first)', () => {
    assert.match(badResponse('<html>\n\n'), /without a name and a colon/);
  });

  test('rejects a header name that is not an HTTP token', () => {
    assert.match(badResponse('Content Type: text/plain\n\n'), /header name is not a valid HTTP token: "Content Type"/);
    assert.match(badResponse('X(a): 1\nContent-Type: text/plain\n\n'), /not a valid HTTP token/);
    badResponse(Uint8Array.from([...bytes('X-'), 0xe9, ...bytes(': 1\nContent-Type: text/plain\n\n')]));
  });

  test('rejects a control character in a header value', () => {
    assert.match(badResponse('Content-Type: text/plain\nX-A: a\x00b\n\n'), /header X-A has a control character/);
    assert.match(badResponse('Content-Type: text/plain\nX-A: a\rb\n\n'), /header X-A has a control character/);
    assert.match(badResponse('Content-Type: text/plain\nX-A: a\x1bb\n\n'), /control character/);
    assert.match(badResponse('Content-Type: text/plain\nX-A: a\x7fb\n\n'), /control character/);
  });

  test('accepts a tab inside a header value', () => {
    assert.deepEqual(parse('Content-Type: text/plain\nX-A: a\tb\n\n').headers.slice(2), ['X-A', 'a\tb']);
  });

  test('rejects a status out of range', () => {
    for (const s of ['100', '199', '600', '999', '099']) {
      assert.match(badResponse(`Status: ${s}\nContent-Type: text/plain\n\n`), /CGI status must be a code from 200 to 599/, s);
    }
  });

  test('rejects a garbage status, quoting it', () => {
    assert.match(badResponse('Status: OK\nContent-Type: text/plain\n\n'), /200 to 599, got "OK"/);
    for (const s of ['', '2000', '20x', '200OK', '-200', '2 00']) {
      badResponse(`Status: ${s}\nContent-Type: text/plain\n\n`);
    }
  });

  test('rejects headers that name no content-type, location or status', () => {
    assert.match(badResponse('X-A: 1\n\nbody'), /no content-type, location or status/);
    assert.match(badResponse('\nbody'), /no content-type, location or status/);
  });

  test('errors are VergeErrors answering 502, blamed on the guest', () => {
    try {
      parse('garbage');
      assert.fail('expected an error');
    } catch (err) {
      assert.ok(err instanceof VergeError);
      assert.equal(err.status, 502);
      assert.equal(err.blame, 'guest');
    }
  });
});
