/** `verge build`: each component's build command in its folder (output streamed), or Verge's TypeScript build. */
import { spawn } from 'node:child_process';
import { VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import { buildTypescript } from './typescript-build.js';

export async function buildApp(app: AppConfig, log: (line: string) => void): Promise<number> {
  let built = 0;
  for (const c of app.components.values()) {
    if (!c.build) continue;
    await buildComponent(c, log);
    built++;
  }
  return built;
}

export interface BuildOptions {
  /** Aborting stops the build (its process group is killed) and rejects. */
  signal?: AbortSignal;
  /** Where a build command's stdout goes: ours (`verge build`), or stderr when stdout carries JSON logs (`verge up --watch`). */
  stdout?: 'inherit' | 'stderr';
}

/** One component's build. */
export async function buildComponent(c: ComponentConfig, log: (line: string) => void, opts: BuildOptions = {}): Promise<void> {
  if (!c.build) return;
  if (c.build.kind === 'typescript') return buildTypescript(c, log, { signal: opts.signal });
  log(`Building component ${c.name}: ${c.build.command}  (in ${c.build.workdir})`);
  await runBuild(c, opts);
}

function runBuild(c: ComponentConfig, { signal, stdout = 'inherit' }: BuildOptions): Promise<void> {
  const build = c.build as Extract<ComponentConfig['build'], { kind: 'command' }>;
  return new Promise((resolve, reject) => {
    // Its own process group, so a cancelled build's children (npx, cargo, ...) go with it.
    const child = spawn(build.command, { cwd: build.workdir, shell: true, stdio: ['ignore', stdout === 'stderr' ? 2 : 'inherit', 'inherit'], detached: signal !== undefined });
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        child.kill('SIGTERM');
      }
    };
    signal?.addEventListener('abort', kill, { once: true });
    child.on('exit', () => signal?.removeEventListener('abort', kill));
    child.on('error', (err) =>
      reject(new VergeError('BUILD_FAILED', `component ${c.name}: could not start \`${build.command}\` in ${build.workdir}: ${err.message}`)),
    );
    child.on('exit', (code, signal) => {
      if (code === 0) resolve();
      else
        reject(
          new VergeError(
            'BUILD_FAILED',
            `component ${c.name}: \`${build.command}\` (in ${build.workdir}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`,
          ),
        );
    });
  });
}
