#!/usr/bin/env node
// `verge up`'s workers start first, so they load while this thread loads the CLI (dist/src/dispatch/worker-spawn.js).
import { prespawnWorkers, upWorkerCount } from '../dist/src/dispatch/worker-spawn.js';

prespawnWorkers(upWorkerCount(process.argv));
const { main } = await import('../dist/src/cli/main.js');

main(process.argv).catch((err) => {
  process.stderr.write(`verge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
