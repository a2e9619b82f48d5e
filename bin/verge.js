#!/usr/bin/env node
// The bundle (dist/bundle/, built by `npm run build`): a few files to load instead of ~300 modules.
// `verge up`'s workers start first, so they load while this thread loads the CLI; worker-spawn.js
// is the CLI's own instance of that module, so its pool adopts them.
import { prespawnWorkers, upWorkerCount } from '../dist/bundle/worker-spawn.js';

prespawnWorkers(upWorkerCount(process.argv));
const { main } = await import('../dist/bundle/cli.js');

main(process.argv).catch((err) => {
  process.stderr.write(`verge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
