import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Router, parsePattern, patternShape, type RoutePattern } from './router.js';

function pattern(p: string): RoutePattern {
  const parsed = parsePattern(p);
  if (typeof parsed === 'string') throw new Error(`test setup: ${p} is not a valid pattern: ${parsed}`);
  return parsed;
}

/** A router whose targets are the patterns themselves. */
function router(...patterns: string[]): Router<string> {
  const r = new Router<string>();
  for (const p of patterns) r.add(pattern(p), p);
  return r;
}

/** Which pattern answers `path`, or undefined. */
function winner(r: Router<string>, path: string): string | undefined {
  return r.match(path)?.target;
}

/** Every ordering of a small list. */
function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('parsePattern', () => {
  test('parses literal segments', () => {
    assert.deepEqual(parsePattern('/api/hello'), {
      pattern: '/api/hello',
      segments: [
        { kind: 'literal', value: 'api' },
        { kind: 'literal', value: 'hello' },
      ],
      wildcard: false,
    });
  });

  test('parses the root path as no segments', () => {
    assert.deepEqual(parsePattern('/'), { pattern: '/', segments: [], wildcard: false });
  });

  test('parses parameters without their colon', () => {
    assert.deepEqual(parsePattern('/users/:id/posts/:post_id'), {
      pattern: '/users/:id/posts/:post_id',
      segments: [
        { kind: 'literal', value: 'users' },
        { kind: 'param', name: 'id' },
        { kind: 'literal', value: 'posts' },
        { kind: 'param', name: 'post_id' },
      ],
      wildcard: false,
    });
  });

  test('parses a trailing wildcard, and "/..." as a wildcard over everything', () => {
    assert.deepEqual(parsePattern('/api/...'), { pattern: '/api/...', segments: [{ kind: 'literal', value: 'api' }], wildcard: true });
    assert.deepEqual(parsePattern('/...'), { pattern: '/...', segments: [], wildcard: true });
  });

  test('accepts the URL path characters a literal may hold, including percent escapes', () => {
    for (const p of ['/a-b.c_d~e', "/x!$&'()*+,;=", '/user@host', '/caf%C3%A9', '/a:b']) {
      assert.equal(typeof parsePattern(p), 'object', p);
    }
  });

  test('rejects a path without a leading slash', () => {
    assert.equal(parsePattern('api'), 'expected a path starting with "/"');
    assert.equal(parsePattern(''), 'expected a path starting with "/"');
    assert.equal(parsePattern('...'), 'expected a path starting with "/"');
  });

  test('rejects the wildcard anywhere but at the end', () => {
    assert.equal(parsePattern('/.../a'), 'the wildcard "/..." may only end a path');
    assert.equal(parsePattern('/a/.../b'), 'the wildcard "/..." may only end a path');
    assert.equal(parsePattern('/a/.../...'), 'the wildcard "/..." may only end a path');
  });

  test('rejects empty segments and a trailing slash', () => {
    assert.match(parsePattern('//') as string, /empty path segment/);
    assert.match(parsePattern('/a//b') as string, /empty path segment/);
    assert.match(parsePattern('/a/') as string, /empty path segment/);
    assert.match(parsePattern('/a//...') as string, /empty path segment/);
  });

  test('rejects bad parameter names, quoting them', () => {
    assert.match(parsePattern('/:') as string, /parameter ":"/);
    assert.match(parsePattern('/:1a') as string, /parameter ":1a"/);
    assert.match(parsePattern('/:a-b') as string, /parameter ":a-b"/);
    assert.match(parsePattern('/:a.b') as string, /parameter ":a.b"/);
  });

  test('rejects a parameter name used twice', () => {
    assert.equal(parsePattern('/:id/x/:id'), 'parameter :id appears twice');
  });

  test('rejects characters not allowed in a URL path', () => {
    for (const p of ['/a b', '/a?b', '/a#b', '/é', '/a"b', '/a\\b']) {
      assert.match(parsePattern(p) as string, /characters not allowed in a URL path/, p);
    }
  });
});

describe('patternShape', () => {
  test('is equal for patterns that differ only in parameter names', () => {
    assert.equal(patternShape(pattern('/a/:x')), patternShape(pattern('/a/:y')));
    assert.equal(patternShape(pattern('/:a/b/...')), patternShape(pattern('/:z/b/...')));
  });

  test('differs between literal and parameter, exact and wildcard, and different literals', () => {
    const shapes = ['/a/:x', '/a/x', '/a/x/...', '/a/...', '/a', '/b', '/', '/...'].map((p) => patternShape(pattern(p)));
    assert.equal(new Set(shapes).size, shapes.length);
  });
});

describe('Router.match', () => {
  test('matches an exact path', () => {
    const m = router('/api/hello').match('/api/hello');
    assert.ok(m);
    assert.equal(m.target, '/api/hello');
    assert.equal(m.pattern, '/api/hello');
    assert.deepEqual(m.params, []);
  });

  test('matches the root route only for "/" (and an empty path)', () => {
    const r = router('/');
    assert.equal(winner(r, '/'), '/');
    assert.equal(winner(r, ''), '/');
    assert.equal(winner(r, '/a'), undefined);
  });

  test('returns undefined when no route matches', () => {
    const r = router('/api/hello', '/users/:id');
    assert.equal(r.match('/api/goodbye'), undefined);
    assert.equal(r.match('/api'), undefined);
    assert.equal(r.match('/api/hello/more'), undefined);
    assert.equal(r.match('/users'), undefined);
    assert.equal(r.match('/users/1/2'), undefined);
    assert.equal(r.match('/'), undefined);
    assert.equal(new Router<string>().match('/'), undefined);
  });

  test('does not match an exact route with a trailing slash', () => {
    assert.equal(router('/api/hello').match('/api/hello/'), undefined);
  });

  test('compares literals case-sensitively and without decoding', () => {
    const r = router('/api');
    assert.equal(r.match('/API'), undefined);
    assert.equal(r.match('/%61pi'), undefined);
  });

  test('captures parameters in pattern order', () => {
    const m = router('/users/:id/posts/:post').match('/users/42/posts/hello');
    assert.ok(m);
    assert.deepEqual(m.params, [
      ['id', '42'],
      ['post', 'hello'],
    ]);
  });

  test('percent-decodes parameters', () => {
    const m = router('/files/:name').match('/files/caf%C3%A9%20menu%2Fv2');
    assert.ok(m);
    assert.deepEqual(m.params, [['name', 'café menu/v2']]);
  });

  test('does not decode "+" as a space in a parameter', () => {
    assert.deepEqual(router('/q/:term').match('/q/a+b')!.params, [['term', 'a+b']]);
  });

  test('throws URIError for a malformed percent-encoding in a parameter', () => {
    const r = router('/files/:name');
    assert.throws(() => r.match('/files/%E0%A4%A'), URIError);
    assert.throws(() => r.match('/files/%zz'), URIError);
    assert.throws(() => r.match('/files/%C3'), URIError);
  });

  test('does not decode literal segments or the wildcard rest, so bad escapes there do not throw', () => {
    const r = router('/a/...');
    const m = r.match('/a/%zz/x');
    assert.ok(m);
    assert.equal(m.pathInfo, '/%zz/x');
  });

  test('does not match a parameter against an empty segment', () => {
    const r = router('/users/:id');
    assert.equal(r.match('/users/'), undefined);
    assert.equal(router('/:a/:b').match('//x'), undefined);
  });

  test('matches a wildcard route at its prefix and under it', () => {
    const r = router('/api/...');
    assert.equal(winner(r, '/api'), '/api/...');
    assert.equal(winner(r, '/api/'), '/api/...');
    assert.equal(winner(r, '/api/x'), '/api/...');
    assert.equal(winner(r, '/api/x/y'), '/api/...');
    assert.equal(winner(r, '/apix'), undefined);
    assert.equal(winner(r, '/'), undefined);
    assert.equal(winner(r, '/other/api'), undefined);
  });

  test('matches every path with "/..."', () => {
    const r = router('/...');
    for (const p of ['/', '', '/a', '/a/b/c', '/a/']) assert.equal(winner(r, p), '/...', p);
  });

  test('matches parameters before a wildcard', () => {
    const m = router('/t/:tenant/...').match('/t/acme/a/b');
    assert.ok(m);
    assert.deepEqual(m.params, [['tenant', 'acme']]);
    assert.equal(m.scriptName, '/t/acme');
    assert.equal(m.pathInfo, '/a/b');
  });
});

describe('Router: SCRIPT_NAME and PATH_INFO', () => {
  test('an exact route matches the whole path as scriptName, with an empty pathInfo', () => {
    const m = router('/api/hello').match('/api/hello')!;
    assert.equal(m.scriptName, '/api/hello');
    assert.equal(m.pathInfo, '');
  });

  test('a parameter route puts the raw (undecoded) matched segments in scriptName', () => {
    const m = router('/users/:id').match('/users/a%20b')!;
    assert.equal(m.scriptName, '/users/a%20b');
    assert.equal(m.pathInfo, '');
  });

  test('a wildcard route splits the fixed prefix from the rest', () => {
    const r = router('/api/...');
    assert.deepEqual(
      ['/api', '/api/', '/api/x', '/api/x/y'].map((p) => {
        const m = r.match(p)!;
        return [m.scriptName, m.pathInfo];
      }),
      [
        ['/api', ''],
        ['/api', '/'],
        ['/api', '/x'],
        ['/api', '/x/y'],
      ],
    );
  });

  test('the "/..." route has an empty scriptName and the whole path as pathInfo', () => {
    const r = router('/...');
    assert.deepEqual([r.match('/')!.scriptName, r.match('/')!.pathInfo], ['', '']);
    assert.deepEqual([r.match('/a/b')!.scriptName, r.match('/a/b')!.pathInfo], ['', '/a/b']);
  });

  test('the root route has an empty scriptName and pathInfo', () => {
    const m = router('/').match('/')!;
    assert.equal(m.scriptName, '');
    assert.equal(m.pathInfo, '');
  });

  test('scriptName + pathInfo gives back the request path for a wildcard route', () => {
    const r = router('/a/:b/...');
    for (const p of ['/a/x', '/a/x/', '/a/x/y/z', '/a/x//y']) {
      const m = r.match(p)!;
      assert.equal(m.scriptName + m.pathInfo, p, p);
    }
  });
});

describe('Router: most specific route wins', () => {
  test('a literal beats a parameter at the same position', () => {
    const r = router('/users/:id', '/users/me');
    assert.equal(winner(r, '/users/me'), '/users/me');
    assert.equal(winner(r, '/users/42'), '/users/:id');
  });

  test('a parameter beats a wildcard', () => {
    const r = router('/users/...', '/users/:id');
    assert.equal(winner(r, '/users/42'), '/users/:id');
    assert.equal(winner(r, '/users/42/posts'), '/users/...');
    assert.equal(winner(r, '/users'), '/users/...');
  });

  test('a literal beats a wildcard', () => {
    const r = router('/...', '/health');
    assert.equal(winner(r, '/health'), '/health');
    assert.equal(winner(r, '/healthz'), '/...');
    assert.equal(winner(r, '/'), '/...');
  });

  test('the exact "/api" beats "/api/..." for "/api"', () => {
    const r = router('/api/...', '/api');
    assert.equal(winner(r, '/api'), '/api');
    assert.equal(winner(r, '/api/x'), '/api/...');
    assert.equal(winner(r, '/api/'), '/api/...');
  });

  test('the exact root "/" beats "/..." for "/"', () => {
    const r = router('/...', '/');
    assert.equal(winner(r, '/'), '/');
    assert.equal(winner(r, '/x'), '/...');
  });

  test('compares from the left: "/a/b/:y" beats "/a/:x/c" for "/a/b/c"', () => {
    const r = router('/a/:x/c', '/a/b/:y');
    const m = r.match('/a/b/c')!;
    assert.equal(m.target, '/a/b/:y');
    assert.deepEqual(m.params, [['y', 'c']]);
    assert.equal(winner(r, '/a/z/c'), '/a/:x/c');
  });

  test('a longer wildcard prefix beats a shorter one', () => {
    const r = router('/...', '/api/...', '/api/v1/...');
    assert.equal(winner(r, '/api/v1/users'), '/api/v1/...');
    assert.equal(winner(r, '/api/v1'), '/api/v1/...');
    assert.equal(winner(r, '/api/v2'), '/api/...');
    assert.equal(winner(r, '/web'), '/...');
  });

  test('a parameter wildcard beats a plain wildcard when its fixed part matches', () => {
    const r = router('/t/...', '/t/:tenant/...');
    assert.equal(winner(r, '/t/acme/x'), '/t/:tenant/...');
    assert.equal(winner(r, '/t/acme'), '/t/:tenant/...');
    assert.equal(winner(r, '/t'), '/t/...');
  });

  test('falls back to a less specific route when the more specific one does not match', () => {
    const r = router('/a/b/c', '/a/:x/d', '/a/...');
    assert.equal(winner(r, '/a/b/c'), '/a/b/c');
    assert.equal(winner(r, '/a/b/d'), '/a/:x/d');
    assert.equal(winner(r, '/a/b/e'), '/a/...');
  });

  test('registration order does not change which route wins', () => {
    const patterns = ['/...', '/api/...', '/api', '/api/:version', '/api/v1', '/api/:version/users/...', '/a/:x/c', '/a/b/:y'];
    const paths = ['/', '/api', '/api/', '/api/v1', '/api/v2', '/api/v2/users', '/api/v2/users/7', '/api/v2/other', '/a/b/c', '/a/q/c', '/x'];
    const expected = paths.map((p) => winner(router(...patterns), p));
    assert.deepEqual(expected, [
      '/...',
      '/api',
      '/api/...',
      '/api/v1',
      '/api/:version',
      '/api/:version/users/...',
      '/api/:version/users/...',
      '/api/...',
      '/a/b/:y',
      '/a/:x/c',
      '/...',
    ]);
    for (const order of permutations(patterns.slice(0, 6))) {
      const r = router(...order, ...patterns.slice(6));
      assert.deepEqual(
        paths.map((p) => winner(r, p)),
        expected,
        `order ${order.join(' ')}`,
      );
    }
    const reversed = router(...[...patterns].reverse());
    assert.deepEqual(
      paths.map((p) => winner(reversed, p)),
      expected,
    );
  });

  test('exposes the registered patterns, most specific first', () => {
    const r = router('/...', '/a/:x', '/a/b');
    assert.deepEqual(
      r.patterns.map((p) => p.pattern),
      ['/a/b', '/a/:x', '/...'],
    );
  });
});
