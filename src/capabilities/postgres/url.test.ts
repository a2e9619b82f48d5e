import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePgUrl, redactUrl, type PgAddress } from './url.js';

const parsed = (text: string): PgAddress => {
  const a = parsePgUrl(text);
  assert.ok(typeof a !== 'string', `${text}: ${String(a)}`);
  return a;
};

describe('postgres:// addresses', () => {
  test('user, password, host, port and database are read, percent-decoded, and the port defaults to 5432', () => {
    const a = parsed('postgres://app:p%40ss%2Fw0rd@DB.Example.com/orders');
    assert.deepEqual([a.user, a.password, a.hostname, a.port, a.database, a.tls], ['app', 'p@ss/w0rd', 'db.example.com', 5432, 'orders', 'disable']);
    assert.equal(parsed('postgresql://u@127.0.0.1:80/x').port, 80, 'an explicit port 80 is kept');
    assert.equal(parsed('postgres://u@[::1]:6543').hostname, '[::1]');
  });

  test('the database defaults to the user name, as libpq does', () => {
    assert.equal(parsed('postgres://app@db').database, 'app');
  });

  test('every TLS mode but disable verifies the certificate; prefer and allow are refused', () => {
    assert.equal(parsed('postgres://u@db/x?sslmode=require').tls, 'verify');
    assert.equal(parsed('postgres://u@db/x?sslmode=verify-full').tls, 'verify');
    assert.equal(parsed('postgres://u@db/x?sslmode=disable').tls, 'disable');
    assert.match(String(parsePgUrl('postgres://u@db/x?sslmode=prefer')), /prefer and allow may fall back to plain text/);
  });

  test('what is wrong is said without quoting the URL, which holds the password', () => {
    const cases: Array<[string, RegExp]> = [
      ['mysql://u:secret@db/x', /a postgres:\/\/ URL/],
      ['postgres://:secret@db/x', /with a user name/],
      ['postgres://u:secret@db:0/x', /a port from 1 to 65535/],
      ['postgres://u:secret@a,b/x', /one host/],
      ['postgres://u:secret@db/x?connect_timeout=3', /only query parameter is sslmode/],
      ['postgres://u:secret@db/x y', /without spaces/],
    ];
    for (const [text, expected] of cases) {
      const problem = parsePgUrl(text);
      assert.equal(typeof problem, 'string', text);
      assert.match(problem as string, expected, text);
      assert.ok(!(problem as string).includes('secret'), `${text}: the password stays out of the message`);
    }
  });

  test('what messages show has no user info', () => {
    assert.equal(parsed('postgres://app:secret@db:5433/orders').shown, 'postgres://db:5433/orders');
    assert.equal(redactUrl('postgres://app:se@cret@db:5433/orders?sslmode=require'), 'postgres://db:5433/orders');
  });
});
