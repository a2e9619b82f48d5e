import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { VergeError } from '../errors.js';
import { DEFAULT_LIMITS } from './config.js';
import { MANIFEST_FILE, loadManifest, parseManifest, resolveManifestPath } from './load.js';
import { manifestError } from './fixtures.js';

const FILE = '/srv/shop/verge.toml';
const DIR = '/srv/shop';

/** A valid manifest; `extra` is appended (new tables) and `app` is added inside [application]. */
function manifest(opts: { app?: string; component?: string; routes?: string; extra?: string } = {}): string {
  return [
    '[application]',
    'name = "shop"',
    opts.app ?? '',
    '',
    '[component.api]',
    'source = "build/api.wasm"',
    opts.component ?? '',
    '',
    opts.routes ?? '[[route]]\npath = "/api/..."\ncomponent = "api"',
    '',
    opts.extra ?? '',
  ].join('\n');
}


function parseError(text: string, file = FILE): string {
  return manifestError(() => parseManifest(text, file));
}

/** Asserts `message` has a line `FILE: keyPath: ...` that contains every fragment. */
function assertProblem(message: string, keyPath: string, ...fragments: string[]): void {
  const prefix = `${FILE}: ${keyPath}: `;
  const line = message.split('\n').find((l) => l.startsWith(prefix));
  assert.ok(line !== undefined, `expected a problem for ${keyPath} in:\n${message}`);
  for (const f of fragments) assert.ok(line.includes(f), `expected ${JSON.stringify(f)} in the line: ${line}`);
}

describe('parseManifest: a valid manifest', () => {
  test('reads the application, its components and routes, and records the file and its folder', () => {
    const app = parseManifest(manifest(), FILE);
    assert.equal(app.file, FILE);
    assert.equal(app.dir, DIR);
    assert.equal(app.name, 'shop');
    assert.equal(app.version, undefined);
    assert.equal(app.description, undefined);
    assert.deepEqual(app.routes.map(({ path, component }) => ({ path, component })), [{ path: '/api/...', component: 'api' }]);
    assert.equal(app.routes[0]!.pattern.wildcard, true, 'the route is parsed once, at load');
    assert.deepEqual([...app.components.keys()], ['api']);
    const api = app.components.get('api')!;
    assert.equal(api.name, 'api');
    assert.equal(api.description, undefined);
    assert.equal(api.build, undefined);
  });

  test('applies DEFAULT_LIMITS when a component has no [limits] table', () => {
    const app = parseManifest(manifest(), FILE);
    assert.deepEqual(app.components.get('api')!.limits, { ...DEFAULT_LIMITS });
    assert.deepEqual({ ...DEFAULT_LIMITS }, { memoryMib: 128, timeoutMs: 30_000, maxRequestBytes: 10 * 1024 * 1024, maxResponseBytes: 32 * 1024 * 1024, outboundTimeoutMs: 10_000 });
  });

  test('fills the limits a [limits] table leaves out from DEFAULT_LIMITS', () => {
    const app = parseManifest(manifest({ component: '[component.api.limits]\nmemory_mib = 64' }), FILE);
    assert.deepEqual(app.components.get('api')!.limits, { ...DEFAULT_LIMITS, memoryMib: 64 });
  });

  test('reads every limit, optional field and the build table', () => {
    const text = manifest({
      app: 'version = "1.2.3"\ndescription = "A shop"',
      component: [
        'description = "The API"',
        '[component.api.limits]',
        'memory_mib = 256',
        'timeout_ms = 1500',
        'max_request_bytes = 0',
        'max_response_bytes = 2048',
        '[component.api.build]',
        'command = "cargo build --release"',
        'workdir = "../api-src"',
      ].join('\n'),
    });
    const app = parseManifest(text, FILE);
    assert.equal(app.version, '1.2.3');
    assert.equal(app.description, 'A shop');
    const api = app.components.get('api')!;
    assert.equal(api.description, 'The API');
    assert.deepEqual(api.limits, { memoryMib: 256, timeoutMs: 1500, maxRequestBytes: 0, maxResponseBytes: 2048, outboundTimeoutMs: 10_000 });
    assert.deepEqual(api.build, { kind: 'command', command: 'cargo build --release', workdir: '/srv/api-src', watch: [] });
  });

  test('accepts the extreme values of each limit', () => {
    const app = parseManifest(
      manifest({
        component: '[component.api.limits]\nmemory_mib = 4096\ntimeout_ms = 3600000\nmax_request_bytes = 1073741824\nmax_response_bytes = 0\noutbound_timeout_ms = 600000',
      }),
      FILE,
    );
    assert.deepEqual(app.components.get('api')!.limits, { memoryMib: 4096, timeoutMs: 3_600_000, maxRequestBytes: 1024 * 1024 * 1024, maxResponseBytes: 0, outboundTimeoutMs: 600_000 });
    const low = parseManifest(manifest({ component: '[component.api.limits]\nmemory_mib = 1\ntimeout_ms = 1' }), FILE);
    assert.equal(low.components.get('api')!.limits.memoryMib, 1);
    assert.equal(low.components.get('api')!.limits.timeoutMs, 1);
  });

  test('resolves a relative source against the manifest folder, not the working directory', () => {
    const app = parseManifest(manifest(), FILE);
    assert.equal(app.components.get('api')!.source, '/srv/shop/build/api.wasm');
    const up = parseManifest(manifest().replace('build/api.wasm', '../shared/./api.wasm'), FILE);
    assert.equal(up.components.get('api')!.source, '/srv/shared/api.wasm');
  });

  test('keeps an absolute source as it is', () => {
    const app = parseManifest(manifest().replace('build/api.wasm', '/opt/modules/api.wasm'), FILE);
    assert.equal(app.components.get('api')!.source, '/opt/modules/api.wasm');
  });

  test('defaults build.workdir to the manifest folder and resolves a relative one against it', () => {
    const noWorkdir = parseManifest(manifest({ component: '[component.api.build]\ncommand = "make"' }), FILE);
    assert.deepEqual(noWorkdir.components.get('api')!.build, { kind: 'command', command: 'make', workdir: DIR, watch: [] });
    const sub = parseManifest(manifest({ component: '[component.api.build]\ncommand = "make"\nworkdir = "src/api"' }), FILE);
    assert.equal(sub.components.get('api')!.build!.workdir, '/srv/shop/src/api');
  });

  test('keeps several components and routes in the order the manifest lists them', () => {
    const text = manifest({
      routes: [
        '[[route]]\npath = "/users/:id"\ncomponent = "users"',
        '[[route]]\npath = "/api/..."\ncomponent = "api"',
        '[[route]]\npath = "/"\ncomponent = "api"',
        '[[route]]\npath = "/..."\ncomponent = "users"',
      ].join('\n'),
      extra: '[component.users]\nsource = "users.wasm"',
    });
    const app = parseManifest(text, FILE);
    assert.deepEqual(
      app.routes.map((r) => [r.path, r.component]),
      [
        ['/users/:id', 'users'],
        ['/api/...', 'api'],
        ['/', 'api'],
        ['/...', 'users'],
      ],
    );
    assert.deepEqual([...app.components.keys()].sort(), ['api', 'users']);
    assert.equal(app.components.get('users')!.source, '/srv/shop/users.wasm');
  });

  test('accepts an exact route next to the wildcard route under the same prefix', () => {
    const app = parseManifest(
      manifest({ routes: '[[route]]\npath = "/api"\ncomponent = "api"\n[[route]]\npath = "/api/..."\ncomponent = "api"' }),
      FILE,
    );
    assert.equal(app.routes.length, 2);
  });

  test('accepts a literal route next to a parameter route at the same position', () => {
    const app = parseManifest(
      manifest({ routes: '[[route]]\npath = "/a/:x"\ncomponent = "api"\n[[route]]\npath = "/a/b"\ncomponent = "api"' }),
      FILE,
    );
    assert.equal(app.routes.length, 2);
  });

  test('accepts names with digits, "-" and "_" up to 64 characters', () => {
    const long = 'a'.repeat(64);
    const app = parseManifest(manifest().replace('name = "shop"', `name = "${long}"`).replaceAll('api', 'my-api_2'), FILE);
    assert.equal(app.name, long);
    assert.ok(app.components.has('my-api_2'));
  });

  test('accepts CRLF line endings', () => {
    const app = parseManifest(manifest().replace(/\n/g, '\r\n'), FILE);
    assert.equal(app.name, 'shop');
  });

  test('freezes the application and its routes', () => {
    const app = parseManifest(manifest(), FILE);
    assert.ok(Object.isFrozen(app));
    assert.ok(Object.isFrozen(app.routes));
    for (const r of app.routes) assert.ok(Object.isFrozen(r));
    assert.throws(() => {
      (app as { name: string }).name = 'other';
    }, TypeError);
    assert.throws(() => app.routes.push({ ...app.routes[0]!, path: '/x' }), TypeError);
    assert.throws(() => {
      (app.routes[0] as { path: string }).path = '/other';
    }, TypeError);
  });

  test('freezes the limits whether the manifest gives them or they come from the defaults', () => {
    const explicit = parseManifest(manifest({ component: '[component.api.limits]\nmemory_mib = 64' }), FILE);
    assert.ok(Object.isFrozen(explicit.components.get('api')!.limits), 'limits read from [limits] are frozen');
    const defaulted = parseManifest(manifest(), FILE);
    assert.ok(Object.isFrozen(defaulted.components.get('api')!.limits), 'limits taken from DEFAULT_LIMITS are frozen');
  });

  test('freezes each component config and its build table', () => {
    const app = parseManifest(manifest({ component: '[component.api.build]\ncommand = "make"' }), FILE);
    const api = app.components.get('api')!;
    assert.ok(Object.isFrozen(api), 'the component config is frozen');
    assert.ok(Object.isFrozen(api.build), 'the build config is frozen');
  });

  test('does not let a caller change DEFAULT_LIMITS through a component', () => {
    const app = parseManifest(manifest(), FILE);
    const limits = app.components.get('api')!.limits;
    try {
      limits.memoryMib = 1;
    } catch {
      // frozen: fine
    }
    assert.equal(DEFAULT_LIMITS.memoryMib, 128);
    assert.ok(Object.isFrozen(DEFAULT_LIMITS));
  });
});

describe('parseManifest: unknown keys', () => {
  test('rejects an unknown top-level key naming the file, the key and the keys it expected', () => {
    const msg = parseError(manifest().replace('[application]', 'colour = "red"\n[application]'));
    assertProblem(msg, 'colour', 'unknown key', 'application', 'component', 'route');
  });

  test('rejects an unknown top-level table', () => {
    const msg = parseError(manifest({ extra: '[server]\nport = 8080' }));
    assertProblem(msg, 'server', 'unknown key');
  });

  test('rejects an unknown key under [application]', () => {
    const msg = parseError(manifest({ app: 'nmae = "typo"' }));
    assertProblem(msg, 'application.nmae', 'unknown key', 'name', 'version', 'description');
  });

  test('rejects an unknown key under [component.NAME] naming the component', () => {
    const msg = parseError(manifest({ component: 'memory_mib = 64' }));
    assertProblem(msg, 'component.api.memory_mib', 'unknown key', 'source', 'limits', 'build');
  });

  test('rejects an unknown key under [component.NAME.limits] naming the file and key path', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\nmemory_mb = 64' }));
    assertProblem(msg, 'component.api.limits.memory_mb', 'unknown key', 'memory_mib', 'timeout_ms', 'max_request_bytes', 'max_response_bytes');
  });

  test('rejects an unknown key under [component.NAME.build]', () => {
    const msg = parseError(manifest({ component: '[component.api.build]\ncommand = "make"\nenv = "x"' }));
    assertProblem(msg, 'component.api.build.env', 'unknown key', 'command', 'workdir');
  });

  test('rejects an unknown key in a [[route]] naming its index', () => {
    const msg = parseError(
      manifest({ routes: '[[route]]\npath = "/"\ncomponent = "api"\n[[route]]\npath = "/b"\ncomponent = "api"\nmethods = ["GET"]' }),
    );
    assertProblem(msg, 'route[1].methods', 'unknown key', 'path', 'component');
    assert.ok(!msg.includes('route[0]'), msg);
  });

  test('treats __proto__ as an ordinary unknown key', () => {
    const msg = parseError(manifest({ app: '__proto__ = "x"' }));
    assertProblem(msg, 'application.__proto__', 'unknown key');
  });
});

describe('parseManifest: wrong types and values', () => {
  test('rejects a string where an integer is expected, with the range, unit and the value it got', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\nmemory_mib = "64"' }));
    assertProblem(msg, 'component.api.limits.memory_mib', 'expected an integer from 1 to 4096', 'MiB', 'got the string "64"');
  });

  test('rejects a zero memory_mib and timeout_ms', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\nmemory_mib = 0\ntimeout_ms = 0' }));
    assertProblem(msg, 'component.api.limits.memory_mib', 'from 1 to 4096', 'got the integer 0');
    assertProblem(msg, 'component.api.limits.timeout_ms', 'from 1 to 3600000', 'milliseconds', 'got the integer 0');
  });

  test('rejects negative limits', () => {
    const msg = parseError(
      manifest({ component: '[component.api.limits]\nmemory_mib = -1\ntimeout_ms = -5\nmax_request_bytes = -1\nmax_response_bytes = -1' }),
    );
    assertProblem(msg, 'component.api.limits.memory_mib', 'got the integer -1');
    assertProblem(msg, 'component.api.limits.timeout_ms', 'got the integer -5');
    assertProblem(msg, 'component.api.limits.max_request_bytes', 'from 0 to 1073741824', 'bytes', 'got the integer -1');
    assertProblem(msg, 'component.api.limits.max_response_bytes', 'from 0 to 1073741824', 'got the integer -1');
  });

  test('rejects limits one over their maximum', () => {
    const msg = parseError(
      manifest({
        component: '[component.api.limits]\nmemory_mib = 4097\ntimeout_ms = 3600001\nmax_request_bytes = 1073741825\nmax_response_bytes = 1073741825',
      }),
    );
    assertProblem(msg, 'component.api.limits.memory_mib', 'got the integer 4097');
    assertProblem(msg, 'component.api.limits.timeout_ms', 'got the integer 3600001');
    assertProblem(msg, 'component.api.limits.max_request_bytes', 'got the integer 1073741825');
    assertProblem(msg, 'component.api.limits.max_response_bytes', 'got the integer 1073741825');
  });

  test('rejects a fractional float for an integer limit', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\ntimeout_ms = 1.5' }));
    assertProblem(msg, 'component.api.limits.timeout_ms', 'expected an integer', '1.5');
  });

  test('rejects a TOML float with a zero fraction (64.0) for an integer limit', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\nmemory_mib = 64.0' }));
    assertProblem(msg, 'component.api.limits.memory_mib', 'expected an integer');
  });

  test('rejects a TOML float in exponent form (1e3) for an integer limit', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\ntimeout_ms = 1e3' }));
    assertProblem(msg, 'component.api.limits.timeout_ms', 'expected an integer');
  });

  test('rejects booleans, arrays and tables where an integer is expected', () => {
    const msg = parseError(
      manifest({ component: '[component.api.limits]\nmemory_mib = true\ntimeout_ms = [1]\nmax_request_bytes = { n = 1 }' }),
    );
    assertProblem(msg, 'component.api.limits.memory_mib', 'got the boolean true');
    assertProblem(msg, 'component.api.limits.timeout_ms', 'got an array');
    assertProblem(msg, 'component.api.limits.max_request_bytes', 'got a table');
  });

  test('rejects a limits value that is not a table', () => {
    const msg = parseError(manifest({ component: 'limits = 5' }));
    assertProblem(msg, 'component.api.limits', 'expected a table', 'got the integer 5');
  });

  test('rejects a non-string or empty application name and an invalid one', () => {
    assertProblem(parseError(manifest().replace('name = "shop"', 'name = 42')), 'application.name', 'expected a name of lowercase letters', 'got the integer 42');
    assertProblem(parseError(manifest().replace('name = "shop"', 'name = ""')), 'application.name', 'got the string ""');
    assertProblem(parseError(manifest().replace('name = "shop"', 'name = "My Shop"')), 'application.name', 'got the string "My Shop"');
    assertProblem(parseError(manifest().replace('name = "shop"', 'name = "-shop"')), 'application.name', 'expected a name');
    assertProblem(parseError(manifest().replace('name = "shop"', `name = "${'a'.repeat(65)}"`)), 'application.name', 'at most 64 characters');
  });

  test('rejects a version or description that is not a non-empty string', () => {
    const msg = parseError(manifest({ app: 'version = 1\ndescription = ""' }));
    assertProblem(msg, 'application.version', 'expected a non-empty string', 'got the integer 1');
    assertProblem(msg, 'application.description', 'expected a non-empty string', 'got the string ""');
  });

  test('rejects [application] that is not a table', () => {
    const msg = parseError(manifest().replace('[application]\nname = "shop"', 'application = "shop"'));
    assertProblem(msg, 'application', 'expected a table', 'got the string "shop"');
  });

  test('rejects a component name that is not a valid name', () => {
    const msg = parseError(manifest().replaceAll('api', 'Api'));
    assertProblem(msg, 'component.Api', 'the component name is not valid', 'lowercase');
  });

  test('rejects a component that is not a table', () => {
    const msg = parseError(manifest({ extra: '[component]\nweb = "web.wasm"' }).replace('[component.api]\nsource = "build/api.wasm"', ''));
    assertProblem(msg, 'component.web', 'expected a table', 'got the string "web.wasm"');
  });

  test('rejects a missing or non-string component source', () => {
    assertProblem(parseError(manifest().replace('source = "build/api.wasm"', '')), 'component.api.source', 'is required', 'a path to a .wasm file');
    assertProblem(parseError(manifest().replace('source = "build/api.wasm"', 'source = 3')), 'component.api.source', 'a path to a .wasm file', 'got the integer 3');
  });

  test('rejects a build table without a command or a typescript entry', () => {
    const msg = parseError(manifest({ component: '[component.api.build]\nworkdir = "src"' }));
    assertProblem(msg, 'component.api.build', 'is missing command or typescript', 'a shell command');
  });

  test('reads a TypeScript build entry, resolved against the manifest folder', () => {
    const app = parseManifest(manifest({ component: '[component.api.build]\ntypescript = "src/index.ts"' }), FILE);
    assert.deepEqual(app.components.get('api')!.build, { kind: 'typescript', entry: '/srv/shop/src/index.ts', workdir: DIR, watch: ['src/**/*.{ts,mts,js,mjs,json}'] });
  });

  test('rejects a build table with both a command and a typescript entry', () => {
    const msg = parseError(manifest({ component: '[component.api.build]\ntypescript = "src/index.ts"\ncommand = "make"' }));
    assertProblem(msg, 'component.api.build', 'both command and typescript');
  });

  test('rejects a typescript entry that is not a .ts or .js file', () => {
    const msg = parseError(manifest({ component: '[component.api.build]\ntypescript = "src/index.py"' }));
    assertProblem(msg, 'component.api.build.typescript', 'a .ts or .js entry file', '"src/index.py"');
  });

  test('defaults instance_reuse to 1 (a fresh instance per request) and reads a larger one', () => {
    assert.equal(parseManifest(manifest(), FILE).components.get('api')!.instanceReuse, 1);
    assert.equal(parseManifest(manifest({ component: 'instance_reuse = 100' }), FILE).components.get('api')!.instanceReuse, 100);
  });

  test('rejects an instance_reuse below 1 or a float, naming the key', () => {
    assertProblem(parseError(manifest({ component: 'instance_reuse = 0' })), 'component.api.instance_reuse', 'an integer from 1 to 10000');
    assertProblem(parseError(manifest({ component: 'instance_reuse = 2.5' })), 'component.api.instance_reuse', 'an integer from 1 to 10000');
  });

  test('rejects route = a string instead of [[route]] tables', () => {
    const msg = parseError('route = "/api"\n' + manifest({ routes: '' }));
    assertProblem(msg, 'route', 'expected an array of tables ([[route]])');
  });

  test('rejects a route array entry that is not a table', () => {
    const msg = parseError('route = ["/api"]\n' + manifest({ routes: '' }));
    assertProblem(msg, 'route[0]', 'expected a table', 'got the string "/api"');
  });
});

describe('parseManifest: required keys and references', () => {
  test('rejects a manifest without [application]', () => {
    const msg = parseError(manifest().replace('[application]\nname = "shop"', ''));
    assertProblem(msg, 'application', 'is required', 'a table');
  });

  test('rejects [application] without a name', () => {
    const msg = parseError(manifest().replace('name = "shop"', 'version = "1"'));
    assertProblem(msg, 'application.name', 'is required', 'a name of lowercase letters');
  });

  test('rejects a manifest without any [[route]]', () => {
    const msg = parseError(manifest({ routes: '' }));
    assertProblem(msg, 'route', 'is required', 'at least one [[route]]');
  });

  test('rejects an empty route array', () => {
    const msg = parseError('route = []\n' + manifest({ routes: '' }));
    assertProblem(msg, 'route', 'at least one [[route]]');
  });

  test('rejects a route without a path', () => {
    const msg = parseError(manifest({ routes: '[[route]]\ncomponent = "api"' }));
    assertProblem(msg, 'route[0].path', 'is required', 'a route path such as');
  });

  test('rejects a route without a component', () => {
    const msg = parseError(manifest({ routes: '[[route]]\npath = "/"' }));
    assertProblem(msg, 'route[0].component', 'is required', '[component.NAME]');
  });

  test('rejects a route naming a component that is not defined', () => {
    const msg = parseError(manifest({ routes: '[[route]]\npath = "/"\ncomponent = "web"' }));
    assertProblem(msg, 'route[0].component', 'no [component.web] is defined');
  });

  test('does not take an inherited property name such as "constructor" for a defined component', () => {
    const msg = parseError(manifest({ routes: '[[route]]\npath = "/"\ncomponent = "constructor"' }));
    assertProblem(msg, 'route[0].component', 'no [component.constructor] is defined');
  });

  test('reports only the broken source, not an undefined component, when a routed component has problems', () => {
    const msg = parseError(manifest().replace('source = "build/api.wasm"', ''));
    assertProblem(msg, 'component.api.source', 'is required');
    assert.ok(!msg.includes('no [component.api] is defined'), msg);
  });
});

describe('parseManifest: route patterns', () => {
  const badRoute = (p: string) => parseError(manifest({ routes: `[[route]]\npath = ${JSON.stringify(p)}\ncomponent = "api"` }));

  test('rejects a path without a leading slash, quoting the path', () => {
    assertProblem(badRoute('api/hello'), 'route[0].path', 'starting with "/"', '(got "api/hello")');
  });

  test('rejects an empty path', () => {
    assertProblem(badRoute(''), 'route[0].path');
  });

  test('rejects the wildcard in the middle of a path', () => {
    assertProblem(badRoute('/api/.../x'), 'route[0].path', 'the wildcard "/..." may only end a path', '"/api/.../x"');
  });

  test('rejects a parameter that does not start with a letter or "_"', () => {
    assertProblem(badRoute('/users/:1d'), 'route[0].path', 'parameter ":1d"', 'letters, digits or "_"');
  });

  test('rejects a parameter without a name or with a dash', () => {
    assertProblem(badRoute('/users/:'), 'route[0].path', 'parameter ":"');
    assertProblem(badRoute('/users/:user-id'), 'route[0].path', 'parameter ":user-id"');
  });

  test('rejects a parameter that appears twice', () => {
    assertProblem(badRoute('/a/:id/b/:id'), 'route[0].path', 'parameter :id appears twice');
  });

  test('rejects empty segments and a trailing slash', () => {
    assertProblem(badRoute('/a//b'), 'route[0].path', 'empty path segment');
    assertProblem(badRoute('/a/'), 'route[0].path', 'empty path segment');
  });

  test('rejects characters that are not allowed in a URL path', () => {
    assertProblem(badRoute('/a b'), 'route[0].path', 'characters not allowed');
    assertProblem(badRoute('/a?b=1'), 'route[0].path', 'characters not allowed');
  });

  test('rejects two routes that match the same requests, naming both', () => {
    const msg = parseError(
      manifest({ routes: '[[route]]\npath = "/a/:x"\ncomponent = "api"\n[[route]]\npath = "/a/:y"\ncomponent = "api"' }),
    );
    assertProblem(msg, 'route[1].path', '"/a/:y" matches the same requests as "/a/:x"');
    assert.ok(!msg.includes('route[0].path'), msg);
  });

  test('rejects two identical wildcard routes', () => {
    const msg = parseError(
      manifest({ routes: '[[route]]\npath = "/api/..."\ncomponent = "api"\n[[route]]\npath = "/api/..."\ncomponent = "api"' }),
    );
    assertProblem(msg, 'route[1].path', 'matches the same requests as "/api/..."');
  });

  test('rejects parameter wildcard routes that differ only in parameter names', () => {
    const msg = parseError(
      manifest({ routes: '[[route]]\npath = "/t/:a/..."\ncomponent = "api"\n[[route]]\npath = "/t/:b/..."\ncomponent = "api"' }),
    );
    assertProblem(msg, 'route[1].path', 'matches the same requests as "/t/:a/..."');
  });
});

describe('parseManifest: TOML syntax and reporting', () => {
  test('rejects invalid TOML with the file, line and column', () => {
    const msg = parseError('[application]\nname = "shop"\nversion = \n');
    assert.match(msg, /^\/srv\/shop\/verge\.toml:3:\d+: not valid TOML: /);
    assert.ok(!msg.includes('\n'), 'the TOML error is reported on one line');
  });

  test('points at the line and column of an unclosed table header', () => {
    const msg = parseError('[application\nname = "x"');
    assert.match(msg, /^\/srv\/shop\/verge\.toml:1:\d+: not valid TOML/);
  });

  test('rejects a key defined twice as invalid TOML', () => {
    const msg = parseError('[application]\nname = "a"\nname = "b"\n');
    assert.match(msg, /^\/srv\/shop\/verge\.toml:3:\d+: not valid TOML/);
  });

  test("says a string is not closed, with its line and column, instead of the parser's words", () => {
    const msg = parseError('[application]\nname = "shop\n');
    assert.equal(msg, `${FILE}:2:13: not valid TOML: a string is not closed: expected its closing " before the end of the line`);
    assert.ok(parseError("[application]\nname = 'shop\n").endsWith("expected its closing ' before the end of the line"));
  });

  test('says a string runs to the end of the file', () => {
    assert.match(parseError('[application]\nname = """shop\n'), /verge\.toml:2:\d+: not valid TOML: a string is not closed: it runs to the end of the file/);
  });

  test('names a control character inside a string and the escape to write instead', () => {
    assert.ok(parseError('[application]\nname = "a\u0001b"\n').endsWith('a string holds a control character (U+0001): write it as the escape \\u0001'));
  });

  test('says "=" is missing after a key', () => {
    const msg = parseError('[application]\nname "shop"\n');
    assert.ok(msg.startsWith(`${FILE}:2:`), msg);
    assert.ok(msg.endsWith('not valid TOML: expected "=" after the key on this line (each line is key = value), got "name \\"shop\\""'), msg);
  });

  test('says which table header is not closed', () => {
    assert.match(parseError('[application\nname = "x"'), /:1:\d+: not valid TOML: the table header "\[application" is not closed: expected "\]"/);
    assert.match(parseError('[application]\nname = "x"\n[[route\n'), /:3:\d+: not valid TOML: the header "\[\[route" is not closed: expected "\]\]"/);
  });

  test('names a key set twice', () => {
    assert.match(parseError('[application]\nname = "a"\nname = "b"\n'), /:3:1: not valid TOML: name is set twice in the same table/);
  });

  test('names a table defined twice and a table that turns into a list', () => {
    assert.match(parseError('[application]\nname = "a"\n[application]\n'), /:3:\d+: not valid TOML: \[application\] defines application, which is already defined above/);
    assert.match(parseError('[route]\npath = "/"\n[[route]]\n'), /:3:\d+: not valid TOML: \[\[route\]\] defines route, which is already defined above: .*double brackets/);
  });

  test('says an array or inline table is not closed', () => {
    assert.match(parseError('[application]\nname = "a"\nx = [1, 2\ny = 3\n'), /not valid TOML: an array or inline table is not closed/);
  });

  test('says a value is missing or is bare text that needs quotes', () => {
    assert.match(parseError('[application]\nname =\n'), /:2:\d+: not valid TOML: name has no value after "=": expected a "quoted string", a number/);
    assert.match(parseError('[application]\nname = shop\n'), /:2:\d+: not valid TOML: "shop" is not a TOML value: .*\(text goes in quotes\)/);
  });

  test('says something follows a value on the same line', () => {
    assert.match(parseError('[application]\nname = "a" "b"\n'), /:2:\d+: not valid TOML: something follows the value of name on the same line/);
  });

  test('quotes a table or key name that is not a bare key, so a newline in it cannot start a problem line of its own (found by fuzzing)', () => {
    const msg = parseError(manifest({ app: '"a\\nb" = 1', extra: '[key_value_stores."x\\ny"]\nbackend = "memory"\n' }));
    assert.ok(msg.split('\n').every((line) => line.startsWith(`${FILE}: `)), msg);
    assertProblem(msg, 'application."a\\nb"', 'unknown key');
  });

  test('escapes control characters from the file in problem messages', () => {
    const msg = parseError(manifest({ component: 'key_value_stores = ["\\u001b[2J"]' }));
    assert.ok(!msg.includes('\u001b'), msg);
    assertProblem(msg, 'component.api.key_value_stores[0]', 'no store "\\u001b[2J"');
  });

  test('rejects an integer too large to represent, naming the file and the line or the key', () => {
    const msg = parseError(manifest({ component: '[component.api.limits]\nmemory_mib = 99999999999999999999' }));
    assert.match(msg, /^\/srv\/shop\/verge\.toml(:\d+:\d+: not valid TOML|: component\.api\.limits\.memory_mib: expected an integer)/);
  });

  test('reports several problems together in one error, one line each, every line naming the file', () => {
    const text = [
      'colour = "red"',
      '[application]',
      'name = "Bad Name"',
      '[component.api]',
      'source = "api.wasm"',
      '[component.api.limits]',
      'memory_mib = 0',
      '[[route]]',
      'path = "nope"',
      'component = "api"',
      '[[route]]',
      'path = "/b"',
      'component = "missing"',
    ].join('\n');
    const msg = parseError(text);
    const lines = msg.split('\n');
    assert.equal(lines.length, 5, msg);
    for (const line of lines) assert.ok(line.startsWith(`${FILE}: `), line);
    assertProblem(msg, 'colour', 'unknown key');
    assertProblem(msg, 'application.name', 'got the string "Bad Name"');
    assertProblem(msg, 'component.api.limits.memory_mib', 'got the integer 0');
    assertProblem(msg, 'route[0].path', 'starting with "/"');
    assertProblem(msg, 'route[1].component', 'no [component.missing] is defined');
  });

  test('an empty document reports the missing application and routes together', () => {
    const msg = parseError('');
    assertProblem(msg, 'application', 'is required');
    assertProblem(msg, 'route', 'is required');
  });
});

describe('loadManifest and resolveManifestPath (files)', () => {
  let tmp: string;
  before(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'verge-manifest-'));
  });
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  function appDir(name: string, text: string | null = manifest()): string {
    const dir = path.join(tmp, name);
    mkdirSync(dir, { recursive: true });
    if (text !== null) writeFileSync(path.join(dir, MANIFEST_FILE), text);
    return dir;
  }

  test('loads a manifest file and resolves the source against its folder', () => {
    const dir = appDir('direct');
    const app = loadManifest(path.join(dir, MANIFEST_FILE));
    assert.equal(app.file, path.join(dir, MANIFEST_FILE));
    assert.equal(app.dir, dir);
    assert.equal(app.components.get('api')!.source, path.join(dir, 'build', 'api.wasm'));
  });

  test('a folder path resolves to the verge.toml inside it', () => {
    const dir = appDir('folder');
    assert.equal(resolveManifestPath(dir), path.join(dir, MANIFEST_FILE));
    const app = loadManifest(dir);
    assert.equal(app.file, path.join(dir, MANIFEST_FILE));
    assert.equal(app.name, 'shop');
  });

  test('a manifest with another file name is read as given', () => {
    const dir = appDir('other-name', null);
    const file = path.join(dir, 'staging.toml');
    writeFileSync(file, manifest());
    assert.equal(resolveManifestPath(file), file);
    const app = loadManifest(file);
    assert.equal(app.file, file);
    assert.equal(app.components.get('api')!.source, path.join(dir, 'build', 'api.wasm'));
  });

  test('resolves a relative manifest path against the working directory and makes the paths absolute', () => {
    const dir = appDir('relative');
    const rel = path.relative(process.cwd(), dir);
    const app = loadManifest(rel);
    assert.ok(path.isAbsolute(app.file));
    assert.equal(app.file, path.join(dir, MANIFEST_FILE));
    assert.equal(app.components.get('api')!.source, path.join(dir, 'build', 'api.wasm'));
  });

  test('rejects a path that does not exist, naming it', () => {
    const missing = path.join(tmp, 'nowhere', MANIFEST_FILE);
    const msg = manifestError(() => loadManifest(missing));
    assert.ok(msg.includes(missing), msg);
    assert.ok(msg.includes('no such file or folder'), msg);
  });

  test('rejects a folder without a verge.toml, naming the file it looked for and suggesting verge new', () => {
    const dir = appDir('empty', null);
    const msg = manifestError(() => loadManifest(dir));
    assert.ok(msg.includes(path.join(dir, MANIFEST_FILE)), msg);
    assert.ok(msg.includes('there is no verge.toml here'), msg);
    assert.ok(msg.includes('verge new ts-http <name>'), msg);
  });

  test('names the real file in validation errors', () => {
    const dir = appDir('broken', manifest({ app: 'nmae = "x"' }));
    const msg = manifestError(() => loadManifest(dir));
    assert.ok(msg.startsWith(`${path.join(dir, MANIFEST_FILE)}: application.nmae: unknown key`), msg);
  });

  test('names the real file with line and column in TOML errors', () => {
    const dir = appDir('bad-toml', '[application]\nname = "shop"\n[[route]\n');
    const msg = manifestError(() => loadManifest(dir));
    assert.ok(msg.startsWith(`${path.join(dir, MANIFEST_FILE)}:3:`), msg);
    assert.ok(msg.includes('not valid TOML'), msg);
  });
});

describe('parseManifest: problems as data, hosts and build.watch', () => {
  test('returns every problem as {file, path, message} beside the printed text', () => {
    let caught: VergeError | undefined;
    try {
      parseManifest(manifest({ app: 'colour = "blue"', component: 'limits = { timeout_ms = 0 }' }), FILE);
    } catch (err) {
      caught = err as VergeError;
    }
    assert.ok(caught?.problems);
    assert.deepEqual(
      caught.problems.map((p) => [p.file, p.path]),
      [
        [FILE, 'application.colour'],
        [FILE, 'component.api.limits.timeout_ms'],
      ],
    );
    assert.match(caught.problems[1]!.message, /expected an integer from 1/);
    assert.equal(caught.message, caught.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`).join('\n'));
  });

  test('reads [application] hosts and refuses a host with a port or an inner wildcard, naming the entry', () => {
    const app = parseManifest(manifest({ app: 'hosts = ["API.example.com", "*.example.org"]' }), FILE);
    assert.deepEqual(app.hosts, [
      { kind: 'exact', host: 'api.example.com' },
      { kind: 'suffix', suffix: '.example.org' },
    ]);
    const message = parseError(manifest({ app: 'hosts = ["a.example.com:80", "a.*.b"]' }));
    assertProblem(message, 'application.hosts[0]', 'without a port', '"a.example.com:80"');
    assertProblem(message, 'application.hosts[1]', 'first label');
  });

  test('reads build.watch globs, and a TypeScript build watches the sources beside its entry by default', () => {
    const cmd = parseManifest(manifest({ component: '[component.api.build]\ncommand = "make"\nwatch = ["src/**/*.rs", "Cargo.toml"]' }), FILE);
    assert.deepEqual(cmd.components.get('api')!.build?.watch, ['src/**/*.rs', 'Cargo.toml']);
    const ts = parseManifest(manifest({ component: '[component.api.build]\ntypescript = "handler/main.ts"' }), FILE);
    assert.deepEqual(ts.components.get('api')!.build?.watch, ['handler/**/*.{ts,mts,js,mjs,json}']);
    const bad = parseError(manifest({ component: '[component.api.build]\ncommand = "make"\nwatch = "src"' }));
    assertProblem(bad, 'component.api.build.watch', 'expected an array of strings');
  });
});

describe('parseManifest: composition (docs/composition.md)', () => {
  const routes = (extra: string) => `[[route]]\npath = "/api/..."\ncomponent = "api"\n${extra}`;
  const withAuth = (opts: { component?: string; routes?: string; app?: string } = {}) =>
    manifest({ ...opts, extra: '[component.auth]\nsource = "auth.wasm"\n\n[component.rate]\nsource = "rate.wasm"' });

  test('a route reads private and middleware, in order; by default it is public and has none', () => {
    const app = parseManifest(withAuth({ routes: `${routes('middleware = ["auth", "rate"]')}\n\n[[route]]\npath = "/internal/..."\ncomponent = "auth"\nprivate = true` }), FILE);
    assert.deepEqual(
      app.routes.map((r) => [r.path, r.component, r.private, r.middleware]),
      [
        ['/api/...', 'api', false, ['auth', 'rate']],
        ['/internal/...', 'auth', true, []],
      ],
    );
  });

  test('middleware naming no component, or the route\'s own, is an error naming the entry', () => {
    const message = parseError(withAuth({ routes: routes('middleware = ["auth", "nope", "api"]') }));
    assertProblem(message, 'route[0].middleware[1]', 'no [component.nope] is defined');
    assertProblem(message, 'route[0].middleware[2]', "the route's own component");
  });

  test('a private route with middleware is an error: chained calls never run middleware', () => {
    assertProblem(parseError(withAuth({ routes: routes('private = true\nmiddleware = ["auth"]') })), 'route[0].middleware', 'middleware would never run');
  });

  test('a component may not be called "next": the name is how a middleware passes a request on', () => {
    assertProblem(parseError(manifest({ extra: '[component.next]\nsource = "n.wasm"' })), 'component.next', 'the name "next" is reserved');
  });

  test('a chained-call grant must name a component of the app, over plain http without a port', () => {
    const message = parseError(
      withAuth({
        component: 'allowed_outbound_hosts = ["http://auth.verge.internal", "http://*.verge.internal", "http://ghost.verge.internal", "https://rate.verge.internal", "http://rate.verge.internal:81", "http://next.verge.internal", "http://a.b.verge.internal"]',
      }),
    );
    assert.ok(!message.includes('allowed_outbound_hosts[0]') && !message.includes('allowed_outbound_hosts[1]'), message);
    assertProblem(message, 'component.api.allowed_outbound_hosts[2]', 'no [component.ghost] is defined');
    assertProblem(message, 'component.api.allowed_outbound_hosts[3]', 'plain http');
    assertProblem(message, 'component.api.allowed_outbound_hosts[4]', 'without a port');
    assertProblem(message, 'component.api.allowed_outbound_hosts[5]', 'not a grant');
    assertProblem(message, 'component.api.allowed_outbound_hosts[6]', 'expected http://COMPONENT.verge.internal or http://*.verge.internal');
  });

  test('an app may not answer hosts under verge.internal', () => {
    const message = parseError(manifest({ app: 'hosts = ["api.verge.internal", "*.verge.internal", "verge.internal"]' }));
    for (const i of [0, 1, 2]) assertProblem(message, `application.hosts[${i}]`, 'only chained calls inside the node use');
  });
});
