#!/usr/bin/env node
// The bundle (dist/bundle/, built by `npm run build`; scripts/bundle.ts): one CommonJS file per
// thread, compiled through a V8 code cache (src/code-cache.ts). `verge up`'s workers start first,
// so they load while this thread loads the CLI; worker-spawn.cjs is the CLI's own instance of that
// module, so its pool adopts them.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { prespawnWorkers, upWorkerCount } = require('../dist/bundle/worker-spawn.cjs');

prespawnWorkers(upWorkerCount(process.argv));
const { requireBundle } = require('../dist/bundle/load.cjs');
const { main } = requireBundle(require.resolve('../dist/bundle/cli.cjs'));

main(process.argv).catch((err) => {
  process.stderr.write(`verge: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
