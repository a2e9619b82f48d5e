/** `verge build`: each component's build command in its folder (output streamed), or Verge's TypeScript build. */
import { spawn } from 'node:child_process';
import { VergeError } from '../errors.js';
import type { AppConfig, ComponentConfig } from '../manifest/config.js';
import { buildTypescript } from './typescript-build.js';

export async function buildApp(app: AppConfig, log: (line: string) => void): Promise<number> {
  let built = 0;
  for (const c of app.components.values()) {
    if (!c.build) continue;
    if (c.build.kind === 'typescript') {
      await buildTypescript(c, log);
      built++;
      continue;
    }
    log(`Building component ${c.name}: ${c.build.command}  (in ${c.build.workdir})`);
    await runBuild(c);
    built++;
  }
  return built;
}

function runBuild(c: ComponentConfig): Promise<void> {
  const build = c.build as Extract<ComponentConfig['build'], { kind: 'command' }>;
  return new Promise((resolve, reject) => {
    const child = spawn(build.command, { cwd: build.workdir, shell: true, stdio: ['ignore', 'inherit', 'inherit'] });
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
