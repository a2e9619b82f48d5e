#!/usr/bin/env node
// CommonJS (bin/package.json): node then starts without its ES module loader, and the workers are
// spawned a few milliseconds sooner. The bundle (dist/bundle/, built by `npm run build`;
// scripts/bundle.ts) is one CommonJS file per thread, compiled through a V8 code cache
// (src/code-cache.ts). `verge up`'s workers start first, so they boot while this thread loads the
// CLI; worker-spawn.cjs is the CLI's own instance of that module, so its pool adopts them.
'use strict';
const { prespawnWorkers, upWorkerCount } = require('../dist/bundle/worker-spawn.cjs');

prespawnWorkers(upWorkerCount(process.argv));
const { requireBundle } = require('../dist/bundle/load.cjs');
const { main } = requireBundle(require.resolve('../dist/bundle/cli.cjs'));

main(process.argv).catch((err) => {
  process.stderr.write(`verge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
