/**
 * Real components for the dependency tests, built from test/fixtures/components/dependencies with
 * ComponentizeJS through Verge's pinned toolchain, each against its own WIT world (a dependency
 * exports a custom interface, which `verge build`'s wasi:http world does not). A build takes
 * ~15 s (more on a loaded machine), so the result is kept in the OS temp folder under a hash of
 * everything that shapes it; parallel test files building the same one rename into place.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ensureJsToolchain } from '../../src/cli/toolchain.js';
import { REPO_ROOT, childEnv } from './verge-process.js';
import { hashTree } from './components.js';

const FIXTURES = path.join(REPO_ROOT, 'test/fixtures/components/dependencies');

/** Each fixture: its source, the WIT folder (beside it) and the world it is built against. */
const BUILDS = {
  auth: { source: 'auth.js', wit: 'wit', world: 'auth' },
  'auth-mismatch': { source: 'auth-mismatch.js', wit: 'wit-mismatch', world: 'auth' },
  db: { source: 'db.js', wit: 'wit', world: 'db' },
  api: { source: 'api.js', wit: 'wit', world: 'api' },
} as const;

export type DependencyFixture = keyof typeof BUILDS;

/** The built component's bytes. */
export async function dependencyFixture(name: DependencyFixture): Promise<Uint8Array> {
  const build = BUILDS[name];
  const source = path.join(FIXTURES, build.source);
  const hash = createHash('sha256').update(build.world).update(readFileSync(source));
  hashTree(hash, path.join(FIXTURES, build.wit));
  hashTree(hash, path.join(REPO_ROOT, 'wit/deps'));
  for (const f of ['toolchain/js/package.json', 'toolchain/js/runner.mjs']) hash.update(readFileSync(path.join(REPO_ROOT, f)));
  const cacheDir = path.join(os.tmpdir(), 'verge-test-components');
  const cached = path.join(cacheDir, `dependency-${name}-${hash.digest('hex').slice(0, 16)}.wasm`);
  if (!existsSync(cached)) {
    const dir = mkdtempSync(path.join(os.tmpdir(), `verge-build-${name}-`));
    try {
      // The fixture's WIT and the WASI packages it includes, as one folder.
      const wit = path.join(dir, 'wit');
      cpSync(path.join(FIXTURES, build.wit), wit, { recursive: true });
      cpSync(path.join(REPO_ROOT, 'wit/deps'), path.join(wit, 'deps'), { recursive: true });
      const out = path.join(dir, `${name}.wasm`);
      await componentize({ bundle: source, witPath: wit, worldName: build.world, outfile: out }, dir);
      mkdirSync(cacheDir, { recursive: true });
      renameSync(out, cached);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return new Uint8Array(readFileSync(cached));
}

/** The toolchain's componentize stage (the one `verge build` runs), in a child process. */
async function componentize(args: { bundle: string; witPath: string; worldName: string; outfile: string }, cwd: string): Promise<void> {
  const toolchain = await ensureJsToolchain(() => {});
  const child = spawn(process.execPath, [toolchain.runner, 'componentize', JSON.stringify({ ...args, cwd })], { cwd, env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`componentize of ${args.bundle} (world ${args.worldName}) exited with ${code}:\n${output}`);
}
