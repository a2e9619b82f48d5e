import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { DEFAULT_IDLE_WORKERS, defaultWorkers, discardPrespawned, prespawnWorkers, spawnWorker, upWorkerCount } from './worker-spawn.js';

const argv = (...args: string[]) => ['node', 'verge.js', ...args];

test('verge up prespawns the workers an idle node keeps (one by default, --idle-workers up to --workers), and not its spare', () => {
  assert.equal(upWorkerCount(argv('up', 'examples/hello')), Math.min(DEFAULT_IDLE_WORKERS, defaultWorkers()));
  assert.equal(upWorkerCount(argv('up', 'app', '--workers', '3')), 1);
  assert.equal(upWorkerCount(argv('up', '--workers=1', 'app')), 1);
  assert.equal(upWorkerCount(argv('up', 'app', '--workers', '3', '--idle-workers', '3')), 3);
  assert.equal(upWorkerCount(argv('up', '--idle-workers=2', 'app', '--workers', '4')), 2);
  assert.equal(upWorkerCount(argv('up', 'app', '--workers', '2', '--idle-workers', '5')), 2);
});

test('no worker is prespawned for another command, for help, or for a --workers or --idle-workers value the CLI will refuse', () => {
  assert.equal(upWorkerCount(argv('check', 'app')), 0);
  assert.equal(upWorkerCount(argv('up', '--help')), 0);
  assert.equal(upWorkerCount(argv('up', '--workers', '0')), 0);
  assert.equal(upWorkerCount(argv('up', '--workers', 'many')), 0);
  assert.equal(upWorkerCount(argv('up', '--idle-workers', '0')), 0);
  assert.equal(upWorkerCount(argv()), 0);
});

test('the pool adopts prespawned workers first, and the ones nobody adopted are stopped', async () => {
  prespawnWorkers(2);
  const adopted = spawnWorker();
  const exits: Array<Promise<unknown>> = [once(adopted, 'exit')];
  discardPrespawned();
  // Nothing prespawned is left: the next worker is a new one.
  const fresh = spawnWorker();
  exits.push(once(fresh, 'exit'));
  assert.notEqual(adopted.threadId, fresh.threadId);
  await Promise.all([adopted.terminate(), fresh.terminate()]);
  await Promise.all(exits);
});

test('a prespawned worker that is never adopted does not keep the process alive', () => {
  const url = new URL('./worker-spawn.js', import.meta.url).href;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', `import { prespawnWorkers } from ${JSON.stringify(url)}; prespawnWorkers(2);`], {
    timeout: 20_000,
    encoding: 'utf8',
  });
  assert.equal(run.error, undefined, `the process was still running after 20 s (${run.error?.message})`);
  assert.equal(run.status, 0, run.stderr);
});
