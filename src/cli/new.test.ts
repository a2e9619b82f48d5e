import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadManifest } from '../manifest/load.js';
import { isVergeError } from '../errors.js';
import { addComponent, listTemplates, newApp, nextSteps, targetName, TEMPLATES, validateAppName, vendoredSdkPaths } from './new.js';

const tmp = () => mkdtempSync(path.join(os.tmpdir(), 'verge-new-'));

test('ts-http scaffolds a manifest that loads, a typed handler, tsconfig, .gitignore, README and the wasi types', async () => {
  const dir = path.join(tmp(), 'hello-ts');
  const made = await newApp({ template: 'ts-http', name: 'hello-ts', dir });
  assert.deepEqual(made.files, ['.gitignore', 'README.md', 'src/index.ts', 'src/wasi.d.ts', 'tsconfig.json', 'verge.toml']);
  const app = loadManifest(dir);
  assert.equal(app.name, 'hello-ts');
  assert.deepEqual(app.routes.map(({ path, component }) => ({ path, component })), [{ path: '/...', component: 'hello-ts' }]);
  const c = app.components.get('hello-ts')!;
  assert.equal(c.source, path.join(dir, 'hello-ts.wasm'));
  assert.deepEqual(c.build, { kind: 'typescript', entry: path.join(dir, 'src/index.ts'), workdir: dir, watch: ['src/**/*.{ts,mts,js,mjs,json}'] });
  assert.match(readFileSync(path.join(dir, 'src/index.ts'), 'utf8'), /addEventListener\('fetch', \(event\) => event\.respondWith\(handle\(event\.request\)\)\)/);
  assert.equal(readFileSync(path.join(dir, 'src/wasi.d.ts'), 'utf8'), readFileSync(new URL('../../../sdk/typescript/wasi.d.ts', import.meta.url), 'utf8'));
  assert.match(readFileSync(path.join(dir, '.gitignore'), 'utf8'), /^\*\.wasm$/m);
  const tsconfig = JSON.parse(readFileSync(path.join(dir, 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  assert.equal(tsconfig.compilerOptions.strict, true);
  assert.equal(tsconfig.compilerOptions.noEmit, true);
  assert.doesNotMatch(readFileSync(path.join(dir, 'README.md'), 'utf8'), /\{\{name\}\}/);
});

test('refuses a non-empty folder and writes nothing into it', async () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'keep.txt'), 'mine');
  await assert.rejects(newApp({ template: 'ts-http', name: 'x', dir }), (err) => isVergeError(err, 'SCAFFOLD_REFUSED') && /is not empty/.test(err.message));
  assert.equal(readFileSync(path.join(dir, 'keep.txt'), 'utf8'), 'mine');
});

test('accepts an existing empty folder', async () => {
  const dir = path.join(tmp(), 'empty');
  mkdirSync(dir);
  await newApp({ template: 'ts-http', name: 'ok', dir });
  assert.equal(loadManifest(dir).name, 'ok');
});

test('the name rule is the manifest rule', () => {
  const names = ['a', 'api', 'my-app_2', '9lives', 'A', 'has space', '-x', 'x-', '_x', 'a'.repeat(64), 'a'.repeat(65), 'café', ''];
  for (const name of names) {
    const dir = tmp();
    writeFileSync(path.join(dir, 'verge.toml'), `[application]\nname = ${JSON.stringify(name)}\n[[route]]\npath = "/..."\ncomponent = "c"\n[component.c]\nsource = "c.wasm"\n`);
    let manifestOk = true;
    try {
      loadManifest(dir);
    } catch (err) {
      if (!isVergeError(err, 'MANIFEST_INVALID')) throw err;
      manifestOk = false;
    }
    let newOk = true;
    try {
      validateAppName(name);
    } catch {
      newOk = false;
    }
    assert.equal(newOk, manifestOk, `name ${JSON.stringify(name)}`);
  }
});

test('template file names: .txt is dropped and gitignore becomes .gitignore', () => {
  assert.equal(targetName('src/index.ts.txt'), 'src/index.ts');
  assert.equal(targetName('gitignore.txt'), '.gitignore');
  assert.equal(targetName('sub/gitignore.txt'), 'sub/.gitignore');
  assert.equal(targetName('verge.toml.txt'), 'verge.toml');
});

test('every template scaffolds a manifest that loads, with a README that says how to build, serve and test it', async () => {
  assert.deepEqual(listTemplates().map(([t]) => t), TEMPLATES);
  for (const template of TEMPLATES) {
    const dir = path.join(tmp(), 'app');
    const made = await newApp({ template, name: 'app', dir });
    const app = loadManifest(dir);
    assert.equal(app.name, 'app', template);
    assert.ok(app.routes.some((r) => r.path === '/...'), template);
    for (const c of app.components.values()) assert.ok(c.build, `${template}: ${c.name} has a build`);
    const readme = readFileSync(path.join(dir, 'README.md'), 'utf8');
    assert.match(readme, /verge build/, template);
    assert.match(readme, /verge up/, template);
    assert.match(readme, /curl /, template);
    for (const step of nextSteps(template).split(' && ')) assert.ok(readme.includes(step), `${template}: README.md gives "${step}", as verge new's Next line does`);
    assert.doesNotMatch(readme, /\{\{\w+\}\}/, template);
    for (const f of made.files) assert.doesNotMatch(readFileSync(path.join(dir, f), 'utf8'), /\{\{(name|dir|route|workdir)\}\}/, `${template}: ${f}`);
  }
});

test('the rust template vendors the Rust SDK and builds offline with Debian cargo, edition 2021 and a 64 KiB stack', async () => {
  const dir = path.join(tmp(), 'r');
  const made = await newApp({ template: 'rust', name: 'r', dir });
  assert.ok(made.files.includes('verge-sdk/src/handler.rs'));
  assert.equal(readFileSync(path.join(dir, 'verge-sdk/src/lib.rs'), 'utf8'), readFileSync(new URL('../../../sdk/rust/src/lib.rs', import.meta.url), 'utf8'));
  const cargo = readFileSync(path.join(dir, 'Cargo.toml'), 'utf8');
  assert.match(cargo, /^edition = "2021"$/m);
  assert.match(cargo, /^verge-sdk = \{ path = "verge-sdk" \}$/m);
  assert.match(cargo, /^opt-level = "s"$/m);
  const config = readFileSync(path.join(dir, '.cargo/config.toml'), 'utf8');
  assert.match(config, /^offline = true$/m);
  assert.match(config, /^directory = "\/usr\/share\/cargo\/registry"$/m);
  assert.match(config, /-zstack-size=65536/);
  const build = loadManifest(dir).components.get('r')!.build;
  assert.equal(build?.kind === 'command' && build.command, 'RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --target wasm32-wasi');
  assert.match(readFileSync(path.join(dir, 'src/main.rs'), 'utf8'), /^verge_sdk::handler!\(handle\);$/m);
});

async function tsApp(): Promise<string> {
  const dir = path.join(tmp(), 'shop');
  await newApp({ template: 'ts-http', name: 'shop', dir });
  writeFileSync(path.join(dir, 'verge.toml'), `# kept\n${readFileSync(path.join(dir, 'verge.toml'), 'utf8')}`);
  return dir;
}

test('add appends a route and a component in its own folder, keeping the manifest as it was above them', async () => {
  const dir = await tsApp();
  const before = readFileSync(path.join(dir, 'verge.toml'), 'utf8');
  const added = await addComponent({ template: 'c', name: 'api', app: dir, route: '/api/...' });
  assert.equal(added.dir, path.join(dir, 'api'));
  assert.ok(added.files.includes('src/main.c'));
  const after = readFileSync(path.join(dir, 'verge.toml'), 'utf8');
  assert.ok(after.startsWith(before));
  const app = loadManifest(dir);
  assert.deepEqual(app.routes.map((r) => [r.path, r.component]), [['/...', 'shop'], ['/api/...', 'api']]);
  const api = app.components.get('api')!;
  assert.equal(api.source, path.join(dir, 'api/api.wasm'));
  assert.equal(api.build?.workdir, path.join(dir, 'api'));
});

test('add defaults the route to /NAME/... and the folder to NAME, and takes another folder inside the app', async () => {
  const dir = await tsApp();
  assert.equal((await addComponent({ template: 'static', name: 'docs', app: dir })).route, '/docs/...');
  const ts = await addComponent({ template: 'ts-http', name: 'admin', app: path.join(dir, 'verge.toml'), dir: 'services/admin' });
  assert.equal(ts.dir, path.join(dir, 'services/admin'));
  const admin = loadManifest(dir).components.get('admin')!;
  assert.equal(admin.build?.kind === 'typescript' && admin.build.entry, path.join(dir, 'services/admin/src/index.ts'));
  assert.ok(loadManifest(dir).components.get('docs')!.files, 'the static component mounts its public/ folder');
});

test('add refuses an existing name, an existing route, a folder outside the app and the middleware template, changing nothing', async () => {
  const dir = await tsApp();
  await addComponent({ template: 'c', name: 'api', app: dir, route: '/api/...' });
  const manifest = readFileSync(path.join(dir, 'verge.toml'), 'utf8');
  const refusedWith = (message: RegExp) => (err: unknown) => isVergeError(err, 'SCAFFOLD_REFUSED') && message.test(err.message);
  await assert.rejects(addComponent({ template: 'c', name: 'api', app: dir, route: '/x/...' }), refusedWith(/already has a component "api"/));
  await assert.rejects(addComponent({ template: 'c', name: 'shop', app: dir }), refusedWith(/already has a component "shop"/));
  await assert.rejects(addComponent({ template: 'rust', name: 'other', app: dir, route: '/...' }), refusedWith(/already routes \/\.\.\. \(to shop\)/));
  await assert.rejects(addComponent({ template: 'c', name: 'out', app: dir, dir: '../out' }), refusedWith(/inside the app's folder/));
  await assert.rejects(addComponent({ template: 'middleware', name: 'auth', app: dir }), refusedWith(/an app of its own/));
  await assert.rejects(addComponent({ template: 'c', name: 'Bad', app: dir }), refusedWith(/not a valid component name/));
  assert.equal(readFileSync(path.join(dir, 'verge.toml'), 'utf8'), manifest);
});

test('add puts the manifest and the folder back when the result does not load', async () => {
  const dir = await tsApp();
  const manifest = readFileSync(path.join(dir, 'verge.toml'), 'utf8');
  await assert.rejects(addComponent({ template: 'c', name: 'api', app: dir, route: 'no-slash' }), (err) => isVergeError(err, 'SCAFFOLD_REFUSED') && /would break .*nothing was changed: .*route/s.test(err.message));
  assert.equal(readFileSync(path.join(dir, 'verge.toml'), 'utf8'), manifest);
  assert.equal(existsSync(path.join(dir, 'api')), false);
});

test('the npm package ships the templates and every SDK file a template copies, so an installed verge can scaffold them', () => {
  const files = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { files: string[] }).files;
  const shipped = (p: string) => files.some((f) => f === p || f === `${p}/` || (f.endsWith('/') && p.startsWith(f)));
  assert.ok(shipped('templates/'));
  for (const p of vendoredSdkPaths()) assert.ok(shipped(p), `package.json "files" has ${p}`);
});
