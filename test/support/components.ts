/**
 * Real wasi:http components for end-to-end tests, built from test/fixtures/components with
 * `verge build` (ComponentizeJS through Verge's pinned toolchain). A build takes ~15 s, so the
 * result is kept in the OS temp folder under a hash of everything that shapes it: the fixture's
 * source, the WIT, the toolchain manifest and the build code. Parallel test files may build the same one;
 * the rename into place makes that harmless.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, runVerge } from './verge-process.js';

export type FixtureComponent = 'probe' | 'counter' | 'portable' | 'files' | 'middleware';

/** Hashes every file below `dir`, names and contents, in a stable order. */
export function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const entry of readdirSync(dir).sort()) {
    const p = path.join(dir, entry);
    if (statSync(p).isDirectory()) hashTree(hash, p);
    else hash.update(entry).update(readFileSync(p));
  }
}

/** The built component's bytes. */
export async function fixtureComponent(name: FixtureComponent): Promise<Uint8Array> {
  const source = path.join(REPO_ROOT, 'test/fixtures/components', `${name}.js`);
  const hash = createHash('sha256').update(readFileSync(source));
  hashTree(hash, path.join(REPO_ROOT, 'wit'));
  for (const f of ['toolchain/js/package.json', 'toolchain/js/runner.mjs', 'src/cli/typescript-build.ts']) hash.update(readFileSync(path.join(REPO_ROOT, f)));
  const cacheDir = path.join(os.tmpdir(), 'verge-test-components');
  const cached = path.join(cacheDir, `${name}-${hash.digest('hex').slice(0, 16)}.wasm`);
  if (!existsSync(cached)) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `verge-build-${name}-`));
    copyFileSync(source, path.join(dir, `${name}.js`));
    writeFileSync(
      path.join(dir, 'verge.toml'),
      `[application]\nname = "${name}"\n\n[[route]]\npath = "/..."\ncomponent = "${name}"\n\n[component.${name}]\nsource = "${name}.wasm"\n[component.${name}.build]\ntypescript = "${name}.js"\n`,
    );
    const build = await runVerge(['build', dir]);
    if (build.code !== 0) throw new Error(`verge build of fixture ${name} exited with ${build.code}:\n${build.stdout}\n${build.stderr}`);
    mkdirSync(cacheDir, { recursive: true });
    renameSync(path.join(dir, `${name}.wasm`), cached);
  }
  return new Uint8Array(readFileSync(cached));
}
