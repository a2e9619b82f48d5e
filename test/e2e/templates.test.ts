/**
 * Every `verge new` template as a new user meets it: the real CLI run in a temporary folder outside
 * the repository (new → build → up on a free port → a real request), and `verge add` putting a C
 * component beside a TypeScript one. The ts-http template's own new → build → up is
 * test/e2e/typescript.test.ts; here it is the app `verge add` adds to.
 *
 * The AssemblyScript templates need `npm install` (their package.json); here the repository's
 * node_modules stands in for it, after checking it has the versions the template pins.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, startVerge, VERGE_BIN, type VergeProcess } from '../support/verge-process.js';

/** A build here runs clang, cargo, asc or the JS component toolchain on a busy 2-core machine. */
const BUILD_MS = 300_000;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI in `cwd` with the caller's whole environment (a JS build may install its toolchain), killed after `ms`. */
function verge(args: string[], cwd: string, ms = BUILD_MS): Promise<Run> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [VERGE_BIN, ...args], { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    proc.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
    proc.on('error', reject);
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: code === null ? `${stderr}\n(killed after ${ms} ms)` : stderr });
    });
  });
}

async function ok(args: string[], cwd: string): Promise<Run> {
  const run = await verge(args, cwd);
  assert.equal(run.code, 0, `verge ${args.join(' ')} in ${cwd}:\n${run.stdout}\n${run.stderr}`);
  return run;
}

/** `verge up` in the app's folder on a free port; `use` gets its URL; always stopped. */
async function serving(app: string, use: (url: string) => Promise<void>, env: Record<string, string> = {}): Promise<void> {
  let node: VergeProcess | undefined;
  try {
    node = await startVerge('', [], { cwd: app, env, readyMs: 60_000 });
    await use(node.url);
  } finally {
    await node?.stop();
  }
}

/** Stands in for `npm install` in an AssemblyScript app: the repository's own AssemblyScript, if it is the pinned version. */
function linkAssemblyScript(app: string): void {
  const pinned = (JSON.parse(readFileSync(path.join(app, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
  for (const [pkg, version] of Object.entries(pinned)) {
    const installed = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
    assert.equal(installed, version, `the template pins ${pkg} ${version}; the repository has ${installed}`);
  }
  symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(app, 'node_modules'));
}

describe('verge new TEMPLATE, outside the repository', () => {
  let root: string;
  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'verge-templates-e2e-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const create = async (template: string, name: string): Promise<string> => {
    await ok(['new', template, name], root);
    return path.join(root, name);
  };

  test('verge new --list prints each template with a description, and an unknown one is refused naming them', async () => {
    const list = await ok(['new', '--list'], root);
    const names = list.stdout.trim().split('\n').map((line) => /^(\S+) {2,}\S/.exec(line)?.[1]);
    assert.deepEqual(names, ['ts-http', 'js-http', 'rust', 'c', 'assemblyscript', 'static', 'middleware']);
    const unknown = await verge(['new', 'cobol', 'x'], root);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown template "cobol": expected one of ts-http, js-http, rust, c, assemblyscript, static, middleware/);
  });

  test('c: a CGI handler built with clang answers JSON', async () => {
    const app = await create('c', 'hello-c');
    await ok(['build'], app);
    await ok(['check'], app);
    await serving(app, async (url) => {
      const res = await fetch(`${url}/some/"path"?x=1`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await res.json(), { message: 'Hello from hello-c!', method: 'GET', path: '/some/%22path%22', query: 'x=1' });
    });
  });

  test('static: serves public/ with content types, folders as index.html, 404s, and nothing outside it', async () => {
    const app = await create('static', 'site');
    writeFileSync(path.join(app, 'secret.txt'), 'not mounted');
    await ok(['build'], app);
    await serving(app, async (url) => {
      const index = await fetch(`${url}/`);
      assert.equal(index.status, 200);
      assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
      assert.match(await index.text(), /<h1>Hello from site<\/h1>/);
      const css = await fetch(`${url}/style.css`);
      assert.equal(css.status, 200);
      assert.equal(css.headers.get('content-type'), 'text/css; charset=utf-8');
      assert.equal(await css.text(), readFileSync(path.join(app, 'public/style.css'), 'utf8'));
      for (const p of ['/missing.html', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e/verge.toml', '/style.css%00.html']) {
        const res = await fetch(`${url}${p}`);
        assert.ok(res.status === 404 || res.status === 400, `${p}: ${res.status}`);
        assert.doesNotMatch(await res.text(), /not mounted|\[application\]/, p);
      }
      assert.equal((await fetch(`${url}/`, { method: 'POST', body: 'x' })).status, 405);
    });
  });

  test('assemblyscript: a handler on the vendored AssemblyScript SDK answers JSON', async () => {
    const app = await create('assemblyscript', 'hello-as');
    linkAssemblyScript(app);
    await ok(['build'], app);
    await serving(app, async (url) => {
      const res = await fetch(`${url}/greet?name=Ada`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { message: 'Hello, Ada, from hello-as!', path: '/greet' });
      assert.equal((await fetch(url, { method: 'DELETE' })).status, 405);
    });
  });

  test('middleware: 401 without the bearer token, the component behind it with the token', async () => {
    const app = await create('middleware', 'guarded');
    linkAssemblyScript(app);
    await ok(['build'], app);
    const missing = await verge(['up', '--listen', '127.0.0.1:0'], app, 30_000);
    assert.equal(missing.code, 1, 'the token is a required variable');
    assert.match(missing.stderr, /token \(set VERGE_VAR_TOKEN\)/);
    await serving(
      app,
      async (url) => {
        const denied = await fetch(`${url}/hello`);
        assert.equal(denied.status, 401);
        assert.equal(denied.headers.get('www-authenticate'), 'Bearer');
        assert.equal(((await denied.json()) as { error: string }).error, 'UNAUTHORIZED');
        assert.equal((await fetch(`${url}/hello`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
        const passed = await fetch(`${url}/hello`, { headers: { authorization: 'Bearer s3cret' } });
        assert.equal(passed.status, 200);
        assert.deepEqual(await passed.json(), { message: 'Hello from guarded!', path: '/hello', authenticated: true });
      },
      { VERGE_VAR_TOKEN: 's3cret' },
    );
  });

  test('rust: the Workers-style handler on the vendored Rust SDK, built by Debian cargo offline', async () => {
    const app = await create('rust', 'hello-rust');
    const build = await ok(['build'], app);
    assert.match(build.stderr, /RUSTC=\/usr\/bin\/rustc \/usr\/bin\/cargo build --release --target wasm32-wasi/);
    const wasm = readFileSync(path.join(app, 'target/wasm32-wasi/release/hello-rust.wasm'));
    assert.ok(wasm.length < 400_000, `the release profile keeps it small: ${wasm.length} bytes`);
    await serving(app, async (url) => {
      const res = await fetch(`${url}/x?name=Ada`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Hello, Ada, from hello-rust!\n');
      const post = await fetch(url, { method: 'POST', body: '{}' });
      assert.equal(post.status, 405);
      assert.equal(((await post.json()) as { error: string }).error, 'METHOD_NOT_ALLOWED');
    });
  });

  test('js-http: plain JavaScript through the component toolchain, with no type-check', async () => {
    const app = await create('js-http', 'hello-js');
    const build = await ok(['build'], app);
    assert.match(build.stderr, /type-check +skipped: a JavaScript entry and no tsconfig\.json/);
    await serving(app, async (url) => {
      const res = await fetch(`${url}/a/b`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { message: 'Hello from hello-js!', method: 'GET', path: '/a/b' });
    });
  });
});

describe('verge add TEMPLATE NAME, outside the repository', () => {
  let root: string;
  let app: string;
  before(async () => {
    root = mkdtempSync(path.join(os.tmpdir(), 'verge-add-e2e-'));
    await ok(['new', 'ts-http', 'shop'], root);
    app = path.join(root, 'shop');
    const manifest = path.join(app, 'verge.toml');
    writeFileSync(manifest, `# The shop's front and its API.\n${readFileSync(manifest, 'utf8')}`);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  test('adds a C component on its own route beside the TypeScript one; both build and serve, and comments stay', async () => {
    const added = await ok(['add', 'c', 'api', '--route', '/api/...'], app);
    assert.match(added.stderr, /Routed \/api\/\.\.\. to api in .*verge\.toml/);
    const manifest = readFileSync(path.join(app, 'verge.toml'), 'utf8');
    assert.match(manifest, /^# The shop's front and its API\.$/m);
    assert.match(manifest, /# verge add c api\n\[\[route\]\]\npath = "\/api\/\.\.\."\ncomponent = "api"/);
    assert.match(manifest, /source = "api\/api\.wasm"/);
    assert.match(manifest, /workdir = "api"/);

    await ok(['build'], app);
    const check = await ok(['check'], app);
    assert.match(check.stderr, /2 routes, 2 components: ok/);
    await serving(app, async (url) => {
      const front = await fetch(`${url}/welcome`);
      assert.equal(front.status, 200);
      assert.deepEqual(await front.json(), { message: 'Hello from shop!', method: 'GET', path: '/welcome' });
      const api = await fetch(`${url}/api/items?page=2`);
      assert.equal(api.status, 200);
      assert.deepEqual(await api.json(), { message: 'Hello from api!', method: 'GET', path: '/items', query: 'page=2' });
    });
  });

  test('refuses a name or a route the app already has, and changes nothing', async () => {
    const manifest = path.join(app, 'verge.toml');
    const before = readFileSync(manifest, 'utf8');
    const sameName = await verge(['add', 'c', 'api', '--route', '/other/...'], app);
    assert.equal(sameName.code, 1);
    assert.match(sameName.stderr, /verge add: .*already has a component "api"/);
    const sameRoute = await verge(['add', 'assemblyscript', 'other', '--route', '/api/...'], app);
    assert.equal(sameRoute.code, 1);
    assert.match(sameRoute.stderr, /already routes \/api\/\.\.\. \(to api\)/);
    assert.equal(readFileSync(manifest, 'utf8'), before);
  });
});
