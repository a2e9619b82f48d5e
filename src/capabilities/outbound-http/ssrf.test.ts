/**
 * The SSRF guard against real listeners on 127.0.0.1: a listener that must not be reached counts
 * its TCP connections, and `onConnect` records every address a socket was handed, so a test can
 * show that nothing was even attempted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sendOutbound, type ConnectTarget, type LookupFn, type OutboundContext, type OutboundRequest } from './fetch.js';
import { outboundLimits } from './limits.js';
import { createOutboundPolicy, type OutboundPolicy } from './policy.js';
import { listen, rejectsWith, type Listener } from './fixtures.js';

const get = (url: string): OutboundRequest => ({ method: 'GET', url, headers: [], body: new Uint8Array() });


/** A lookup that answers from a table (and fails for anything else), counting calls per name. */
function tableLookup(table: Record<string, string[] | string[][]>): LookupFn & { calls: Map<string, number> } {
  const calls = new Map<string, number>();
  const fn = async (hostname: string) => {
    const n = calls.get(hostname) ?? 0;
    calls.set(hostname, n + 1);
    const entry = table[hostname];
    if (!entry) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    const answer = (Array.isArray(entry[0]) ? (entry as string[][])[Math.min(n, entry.length - 1)] : entry) as string[];
    return answer.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(fn, { calls });
}

for (const wildcard of ['http://*:*', '*://*:*']) {
  describe(`under the wildcard policy ${wildcard}`, () => {
    let victim: Listener;
    let policy: OutboundPolicy;
    const connects: ConnectTarget[] = [];
    const ctx = (extra: Partial<OutboundContext> = {}): OutboundContext => ({ policy, onConnect: (t) => connects.push(t), ...extra });

    before(async () => {
      victim = await listen((_req, res) => res.end('you should not see this'));
      policy = createOutboundPolicy([wildcard]);
    });
    after(async () => {
      assert.equal(victim.connections(), 0, 'the loopback listener was reached');
      assert.deepEqual(connects, [], 'a socket was handed an address');
      await victim.close();
    });

    test('every spelling of a loopback address is ACCESS_DENIED and the listener sees nothing', async () => {
      const p = victim.port;
      const spellings: Array<[string, RegExp]> = [
        [`http://127.0.0.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://2130706433:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://0x7f.0.0.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://0177.0.0.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://127.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://127.0.1:${p}/`, /127\.0\.0\.1 is a loopback address/],
        [`http://127.255.255.254:${p}/`, /loopback/],
        [`http://[::1]:${p}/`, /\[::1\] is a loopback address/],
        [`http://[0:0:0:0:0:0:0:1]:${p}/`, /loopback/],
        [`http://[::ffff:127.0.0.1]:${p}/`, /loopback/],
        [`http://[::ffff:7f00:1]:${p}/`, /loopback/],
        [`http://[::127.0.0.1]:${p}/`, /loopback/],
        [`http://[64:ff9b::127.0.0.1]:${p}/`, /loopback/],
        [`http://0.0.0.0:${p}/`, /0\.0\.0\.0 is an unspecified address/],
        [`http://0:${p}/`, /unspecified/],
        [`http://[::]:${p}/`, /unspecified/],
      ];
      for (const [url, message] of spellings) {
        await rejectsWith(sendOutbound(get(url), ctx()), 'ACCESS_DENIED', message);
      }
    });

    test('every spelling of the metadata address is ACCESS_DENIED naming the class', async () => {
      const spellings = [
        'http://169.254.169.254/latest/meta-data/',
        'http://2852039166/',
        'http://0xa9.0xfe.0xa9.0xfe/',
        'http://0xa9fea9fe/',
        'http://0251.0376.0251.0376/',
        'http://169.254.43518/',
        'http://[::ffff:169.254.169.254]/',
        'http://[::ffff:a9fe:a9fe]/',
        'http://[0:0:0:0:0:ffff:a9fe:a9fe]/',
        'http://[64:ff9b::a9fe:a9fe]/',
        'http://[fd00:ec2::254]/',
      ];
      for (const url of spellings) {
        await rejectsWith(sendOutbound(get(url), ctx()), 'ACCESS_DENIED', /is a metadata address; only a host named explicitly in allowed_outbound_hosts \(not a wildcard\) may reach one/);
      }
    });

    test('private, link-local, CGNAT and unique-local literals are ACCESS_DENIED', async () => {
      const cases: Array<[string, string]> = [
        ['http://10.0.0.1/', 'private'],
        ['http://172.16.5.4/', 'private'],
        ['http://192.168.0.1/', 'private'],
        ['http://169.254.1.1/', 'link-local'],
        ['http://100.64.0.1/', 'cgnat'],
        ['http://[fd00::1]/', 'unique-local'],
        ['http://[fe80::1]/', 'link-local'],
        ['http://224.0.0.1/', 'multicast'],
      ];
      for (const [url, cls] of cases) {
        await rejectsWith(sendOutbound(get(url), ctx()), 'ACCESS_DENIED', new RegExp(`is an? ${cls} address`));
      }
    });

    test('localhost resolved by the system resolver is ACCESS_DENIED', async () => {
      await rejectsWith(sendOutbound(get(`http://localhost:${victim.port}/`), ctx()), 'ACCESS_DENIED', /localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    });

    test('a name that resolves to a private or metadata address is ACCESS_DENIED naming the address', async () => {
      const lookup = tableLookup({
        'internal.test': ['10.1.2.3'],
        'meta.test': ['169.254.169.254'],
        'mapped.test': ['::ffff:127.0.0.1'],
        'ula.test': ['fd12::1'],
        'cgnat.test': ['100.100.100.200'],
      });
      await rejectsWith(sendOutbound(get('http://internal.test/'), ctx({ lookup })), 'ACCESS_DENIED', /internal\.test resolves to 10\.1\.2\.3, a private address/);
      await rejectsWith(sendOutbound(get('http://meta.test/'), ctx({ lookup })), 'ACCESS_DENIED', /meta\.test resolves to 169\.254\.169\.254, a metadata address/);
      await rejectsWith(sendOutbound(get(`http://mapped.test:${victim.port}/`), ctx({ lookup })), 'ACCESS_DENIED', /::ffff:127\.0\.0\.1, a loopback address/);
      await rejectsWith(sendOutbound(get('http://ula.test/'), ctx({ lookup })), 'ACCESS_DENIED', /fd12::1, a unique-local address/);
      await rejectsWith(sendOutbound(get('http://cgnat.test/'), ctx({ lookup })), 'ACCESS_DENIED', /a cgnat address/);
    });

    test('one non-public address among public ones is enough to refuse the host', async () => {
      const lookup = tableLookup({ 'mixed.test': ['93.184.216.34', '127.0.0.1'] });
      await rejectsWith(sendOutbound(get(`http://mixed.test:${victim.port}/`), ctx({ lookup })), 'ACCESS_DENIED', /mixed\.test resolves to 127\.0\.0\.1, a loopback address/);
    });

    test('a lookup that answers something other than an IP address is NETWORK', async () => {
      const lookup: LookupFn = async () => [{ address: 'not-an-ip', family: 4 }];
      await rejectsWith(sendOutbound(get('http://weird.test/'), ctx({ lookup })), 'NETWORK', /answered "not-an-ip", not an IP address/);
    });
  });
}

describe('explicit entries', () => {
  let server: Listener;
  before(async () => {
    server = await listen((req, res) => res.end(`host=${req.headers['host']}`));
  });
  after(() => server.close());

  test('an explicitly allowed name may reach a loopback address, and the socket gets the checked address', async () => {
    const lookup = tableLookup({ 'svc.test': ['127.0.0.1'] });
    const connects: ConnectTarget[] = [];
    const res = await sendOutbound(get(`http://svc.test:${server.port}/`), {
      policy: createOutboundPolicy(['http://svc.test:*']),
      lookup,
      onConnect: (t) => connects.push(t),
    });
    assert.equal(Buffer.from(res.body).toString(), `host=svc.test:${server.port}`);
    assert.deepEqual(connects, [{ protocol: 'http:', hostname: 'svc.test', port: server.port, addresses: ['127.0.0.1'] }]);
    assert.equal(lookup.calls.get('svc.test'), 1);
  });

  test('an explicitly allowed IP literal is connected to as written, without a lookup', async () => {
    const lookup = tableLookup({});
    const connects: ConnectTarget[] = [];
    await sendOutbound(get(`http://127.0.0.1:${server.port}/`), { policy: createOutboundPolicy(['http://127.0.0.1:*']), lookup, onConnect: (t) => connects.push(t) });
    assert.deepEqual(connects, [{ protocol: 'http:', hostname: '127.0.0.1', port: server.port, addresses: ['127.0.0.1'] }]);
    assert.equal(lookup.calls.size, 0);
  });

  test('an explicit entry does not open other hosts that resolve to the same address', async () => {
    const lookup = tableLookup({ 'svc.test': ['127.0.0.1'], 'other.test': ['127.0.0.1'] });
    const before = server.connections();
    await rejectsWith(
      sendOutbound(get(`http://other.test:${server.port}/`), { policy: createOutboundPolicy(['http://svc.test:*', 'http://*:*']), lookup }),
      'ACCESS_DENIED',
      /other\.test resolves to 127\.0\.0\.1, a loopback address/,
    );
    assert.equal(server.connections(), before);
  });

  test('with several checked addresses the socket may fall back from one to the next', async () => {
    // ::1 refuses (the listener is on 127.0.0.1 only, or there is no IPv6), then 127.0.0.1 answers.
    const lookup = tableLookup({ 'dual.test': ['::1', '127.0.0.1'] });
    const res = await sendOutbound(get(`http://dual.test:${server.port}/`), { policy: createOutboundPolicy(['http://dual.test:*']), lookup });
    assert.equal(Buffer.from(res.body).toString(), `host=dual.test:${server.port}`);
  });
});

describe('redirects are checked hop by hop', () => {
  let origin: Listener;
  let victim: Listener;
  before(async () => {
    victim = await listen((_req, res) => res.end('you should not see this'));
    origin = await listen((req, res) => {
      const target = new URL(req.url, 'http://x').searchParams.get('to')!;
      res.writeHead(302, { location: target.replace('VICTIM', String(victim.port)) }).end();
    });
  });
  after(async () => {
    assert.equal(victim.connections(), 0, 'the second listener was reached');
    await victim.close();
    await origin.close();
  });

  const go = (to: string) => get(`http://127.0.0.1:${origin.port}/?to=${encodeURIComponent(to)}`);

  test('a redirect from an allowed origin to a host the policy does not allow is ACCESS_DENIED', async () => {
    const policy = createOutboundPolicy([`http://127.0.0.1:${origin.port}`]);
    await rejectsWith(
      sendOutbound(go('http://127.0.0.1:VICTIM/steal'), { policy }),
      'ACCESS_DENIED',
      new RegExp(`redirect from http://127\\.0\\.0\\.1:${origin.port}/ to http://127\\.0\\.0\\.1:\\d+/steal: .* is not allowed by allowed_outbound_hosts`),
    );
    assert.equal(origin.received.length, 1);
  });

  test('a redirect to a loopback address under a wildcard entry is ACCESS_DENIED', async () => {
    const policy = createOutboundPolicy([`http://127.0.0.1:${origin.port}`, '*://*:*']);
    for (const to of ['http://127.0.0.1:VICTIM/', 'http://[::ffff:127.0.0.1]:VICTIM/', 'http://2130706433:VICTIM/', 'http://localhost:VICTIM/', 'http://169.254.169.254/latest/meta-data/']) {
      await rejectsWith(sendOutbound(go(to), { policy }), 'ACCESS_DENIED', /^redirect from .* (loopback|metadata) address/);
    }
  });

  test('a redirect to a name that now resolves to loopback is ACCESS_DENIED: each hop is resolved and checked again', async () => {
    const lookup = tableLookup({ 'rebind.test': ['127.0.0.1'] });
    const policy = createOutboundPolicy([`http://127.0.0.1:${origin.port}`, 'http://*:*']);
    await rejectsWith(sendOutbound(go('http://rebind.test:VICTIM/'), { policy, lookup }), 'ACCESS_DENIED', /rebind\.test resolves to 127\.0\.0\.1, a loopback address/);
    assert.equal(lookup.calls.get('rebind.test'), 1);
  });
});

describe('DNS rebinding', () => {
  let victim: Listener;
  before(async () => {
    victim = await listen((_req, res) => res.end('you should not see this'));
  });
  after(() => victim.close());

  test('a name that answers a public address first and loopback after connects only to the address that was checked', async () => {
    // First answer public, every later one loopback. The check sees 93.184.216.34; if anything
    // looked the name up again to connect, it would reach the loopback listener.
    const lookup = tableLookup({ 'rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
    const connects: ConnectTarget[] = [];
    await rejectsWith(
      sendOutbound(get(`http://rebind.test:${victim.port}/`), {
        policy: createOutboundPolicy(['*://*:*']),
        lookup,
        limits: outboundLimits({ timeoutMs: 2000 }),
        // Stop the socket before it sends a packet anywhere: this test only talks to 127.0.0.1.
        onConnect: (t) => {
          connects.push(t);
          throw Object.assign(new Error('test: connection stopped before it left the host'), { code: 'ETESTSTOP' });
        },
      }),
      'NETWORK',
      /connection stopped before it left the host/,
    );
    assert.deepEqual(connects.map((t) => [t.hostname, t.port, [...t.addresses]]), [['rebind.test', victim.port, ['93.184.216.34']]]);
    assert.equal(lookup.calls.get('rebind.test'), 1, 'the name was looked up more than once');
    assert.equal(victim.connections(), 0);
  });

  test('the same rebinding against https also pins the checked address', async () => {
    const lookup = tableLookup({ 'rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
    const connects: ConnectTarget[] = [];
    await rejectsWith(
      sendOutbound(get(`https://rebind.test:${victim.port}/`), {
        policy: createOutboundPolicy(['*://*:*']),
        lookup,
        onConnect: (t) => {
          connects.push(t);
          throw new Error('test: connection stopped before it left the host');
        },
      }),
      'NETWORK',
    );
    assert.deepEqual(connects.map((t) => [...t.addresses]), [['93.184.216.34']]);
    assert.equal(lookup.calls.get('rebind.test'), 1);
    assert.equal(victim.connections(), 0);
  });
});
