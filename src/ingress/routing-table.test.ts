import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RoutingTable, describeConflicts, type AppRoutes } from './routing-table.js';
import { parsePattern, type RoutePattern } from './router.js';
import { parseHostPattern, type HostPattern } from '../manifest/hosts.js';

function app(name: string, hosts: string[], paths: string[]): AppRoutes<string> {
  return {
    app: name,
    hosts: hosts.map((h) => parseHostPattern(h) as HostPattern),
    routes: paths.map((p) => ({ pattern: parsePattern(p) as RoutePattern, target: `${name} ${p}` })),
  };
}

function table(...apps: AppRoutes<string>[]): RoutingTable<string> {
  const built = RoutingTable.build(apps);
  if ('conflicts' in built) throw new Error(describeConflicts(built.conflicts));
  return built.table;
}

describe('RoutingTable', () => {
  test('routes one path to different apps by host name', () => {
    const t = table(app('api', ['api.example.com'], ['/...']), app('www', ['www.example.com'], ['/...']));
    assert.equal(t.match('api.example.com', '/x')?.target, 'api /...');
    assert.equal(t.match('www.example.com', '/x')?.target, 'www /...');
    assert.equal(t.match('other.example.com', '/x'), undefined);
    assert.equal(t.match(undefined, '/x'), undefined, 'a request without Host matches only apps without hosts');
  });

  test('tries an exact host, then wildcards from the longest suffix, then apps without hosts', () => {
    const t = table(
      app('exact', ['a.b.example.org'], ['/...']),
      app('deep', ['*.b.example.org'], ['/...']),
      app('wide', ['*.example.org'], ['/...']),
      app('any', [], ['/...']),
    );
    assert.equal(t.match('a.b.example.org', '/')?.target, 'exact /...');
    assert.equal(t.match('c.b.example.org', '/')?.target, 'deep /...');
    assert.equal(t.match('c.example.org', '/')?.target, 'wide /...');
    assert.equal(t.match('example.org', '/')?.target, 'any /...', 'a wildcard does not match the bare domain');
    assert.equal(t.match('elsewhere.net', '/')?.target, 'any /...');
  });

  test('falls through to apps without hosts when the host-bound apps have no route for the path', () => {
    const t = table(app('api', ['api.example.com'], ['/v1/...']), app('site', [], ['/...']));
    assert.equal(t.match('api.example.com', '/v1/users')?.target, 'api /v1/...');
    assert.equal(t.match('api.example.com', '/robots.txt')?.target, 'site /...');
  });

  test('lets the most specific path win among the apps of one level', () => {
    const t = table(app('shop', [], ['/shop/...']), app('site', [], ['/...']));
    assert.equal(t.match('x', '/shop/cart')?.target, 'shop /shop/...');
    assert.equal(t.match('x', '/about')?.target, 'site /...');
  });

  test('refuses the same route in two apps without hosts, naming both apps and the route', () => {
    const built = RoutingTable.build([app('one', [], ['/api/...']), app('two', [], ['/api/...'])]);
    assert.ok('conflicts' in built);
    assert.deepEqual(built.conflicts, [{ host: undefined, route: '/api/...', apps: ['one', 'two'] }]);
    assert.match(describeConflicts(built.conflicts), /app two: route "\/api\/\.\.\." is already served by app one/);
  });

  test('refuses routes of the same shape under a shared host pattern, even with other parameter names', () => {
    const built = RoutingTable.build([app('one', ['a.example.com', 'b.example.com'], ['/u/:id']), app('two', ['b.example.com'], ['/u/:name'])]);
    assert.ok('conflicts' in built);
    assert.deepEqual(built.conflicts, [{ host: 'b.example.com', route: '/u/:name', apps: ['one', 'two'] }]);
  });

  test('allows the same route in apps whose hosts are disjoint', () => {
    const built = RoutingTable.build([app('one', ['a.example.com'], ['/api/...']), app('two', ['*.example.net'], ['/api/...'])]);
    assert.ok('table' in built);
  });
});
