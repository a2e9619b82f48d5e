#!/usr/bin/env node
// Builds one of the example's JavaScript components — auth, data or api — into build/NAME.wasm:
//
//   node build.mjs NAME
//
// `verge build`'s own TypeScript build makes wasi:http handlers against Verge's world only; these
// export or import the example's interfaces (wit/), so this script runs the same pinned toolchain
// (ComponentizeJS, esbuild, TypeScript; installed by Verge on first use) against their own worlds:
// type-check components/, bundle components/NAME/index.ts into one ES module, componentize it
// against `world NAME` of wit/world.wit. Componentizing takes half a minute, so it is skipped when
// the bundle, the WIT and the toolchain are those of the last build (build/NAME.wasm.inputs).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const WORLDS = ['auth', 'data', 'api'];

const name = process.argv[2];
if (!WORLDS.includes(name)) {
  process.stderr.write(`usage: node build.mjs ${WORLDS.join('|')}\n`);
  process.exit(2);
}
const log = (line) => process.stderr.write(`${line}\n`);
const out = path.join(HERE, 'build');

/** Runs node with `args`; resolves with stdout, rejects with everything it printed. */
function node(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: HERE, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let all = '';
    child.stdout.setEncoding('utf8').on('data', (d) => ((stdout += d), (all += d)));
    child.stderr.setEncoding('utf8').on('data', (d) => (all += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${path.basename(args[0])} exited with ${code}:\n${all.trim()}`))));
  });
}

/** Every file under `dir`, hashed with its relative path, in a stable order. */
function hashTree(hash, dir, rel = '') {
  for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const p = path.join(rel, entry.name);
    if (entry.isDirectory()) hashTree(hash, dir, p);
    else hash.update(p).update('\0').update(readFileSync(path.join(dir, p)));
  }
}

const toolchainModule = path.join(REPO, 'dist/src/cli/toolchain.js');
if (!existsSync(toolchainModule)) {
  log(`build: ${toolchainModule} is missing: compile Verge first (npm ci, or npm run build)`);
  process.exit(1);
}
const { ensureJsToolchain } = await import(pathToFileURL(toolchainModule).href);
const toolchain = await ensureJsToolchain(log);
const started = performance.now();
const seconds = (t) => `${((performance.now() - t) / 1000).toFixed(1)} s`;

try {
  let t = performance.now();
  await node([toolchain.tscCli, '-p', path.join(HERE, 'tsconfig.json')]);
  log(`  type-check    ${seconds(t)}  tsconfig.json`);

  t = performance.now();
  const esbuild = createRequire(path.join(toolchain.dir, 'package.json'))('esbuild');
  const bundle = path.join(out, `${name}.js`);
  await esbuild.build({
    entryPoints: [path.join(HERE, 'components', name, 'index.ts')],
    outfile: bundle,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    platform: 'neutral',
    // The component's imports: bound by ComponentizeJS from the world, not bundled.
    external: ['wasi:*', 'acme:*'],
    logLevel: 'error',
  });
  log(`  bundle        ${seconds(t)}  build/${name}.js, ${(statSync(bundle).size / 1024).toFixed(1)} KiB`);

  const wasm = path.join(out, `${name}.wasm`);
  const stamp = `${wasm}.inputs`;
  const hash = createHash('sha256').update(name).update('\0').update(readFileSync(bundle));
  hashTree(hash, path.join(HERE, 'wit'));
  hashTree(hash, path.join(REPO, 'wit/deps'));
  hash.update(JSON.stringify(toolchain.versions)).update(readFileSync(toolchain.runner));
  const inputs = hash.digest('hex');
  if (existsSync(wasm) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === inputs) {
    log(`  componentize  skipped: build/${name}.wasm is up to date`);
  } else {
    t = performance.now();
    // The example's WIT and the WASI packages it includes, as one folder.
    const wit = path.join(out, `wit-${name}`);
    rmSync(wit, { recursive: true, force: true });
    cpSync(path.join(HERE, 'wit'), wit, { recursive: true });
    cpSync(path.join(REPO, 'wit/deps'), path.join(wit, 'deps'), { recursive: true });
    const result = JSON.parse(await node([toolchain.runner, 'componentize', JSON.stringify({ bundle, witPath: wit, worldName: name, outfile: wasm, cwd: out })]));
    if (!result.ok) throw new Error(`componentize failed:\n${(result.diagnostics ?? []).join('\n')}`);
    writeFileSync(stamp, `${inputs}\n`);
    log(`  componentize  ${seconds(t)}  world ${name}`);
  }
  log(`Built build/${name}.wasm (${(statSync(wasm).size / 1024 / 1024).toFixed(1)} MB) in ${seconds(started)}`);
} catch (err) {
  log(`build ${name}: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
