/** Commander wiring only: each verb's work lives in its own module. */
import { readFileSync } from 'node:fs';
import { Argument, Command, InvalidArgumentError, Option } from 'commander';
import { isVergeError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { HEAVY_COMPONENT_BYTES, loadComponent } from '../loader/module.js';
import { DEFAULT_LISTEN, defaultWorkers, parseListen, startNode } from '../node/start.js';
import { LOG_LEVELS, type LogLevel } from '../telemetry/logging.js';
import { buildApp } from './build.js';
import { watchApps } from './watch.js';
import { hostPatternKey } from '../manifest/hosts.js';
import { newApp, TEMPLATES } from './new.js';
import { readDotenv, resolveVariables } from '../capabilities/variables/resolve.js';
import { DEFAULT_DATA_DIR } from '../capabilities/index.js';
import { ADMIN_TLS_FLAGS, PUBLIC_TLS_FLAGS, tlsFilesFrom } from '../node/tls.js';

const say = (line: string) => process.stderr.write(line + '\n');

/** The installed package's own package.json, relative to this file in dist/src/cli/. */
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

function packageVersion(): string {
  return (JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version;
}

interface UpOptions {
  listen: string;
  admin?: string;
  workers?: number;
  queue?: number;
  build?: boolean;
  watch?: boolean;
  logLevel: LogLevel;
  dataDir: string;
  envFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  adminTlsCert?: string;
  adminTlsKey?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function listenAddress(value: string): string {
  try {
    parseListen(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('verge')
    .description('Serve WebAssembly handlers over HTTP with a fresh sandbox per request.')
    .version(packageVersion(), '-V, --version', 'print the version of Verge')
    .showHelpAfterError()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('up')
    .description('serve the apps described by verge.toml files (one node, each app versioned on its own)')
    .argument('[paths...]', 'verge.toml files or folders holding one (default: the current folder)')
    .option('--listen <host:port>', 'address to serve on', listenAddress, DEFAULT_LISTEN)
    .option('--admin <host:port>', 'serve GET /metrics on this address (off by default)', listenAddress)
    .option('--tls-cert <file>', 'serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate (chain); with --tls-key')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--admin-tls-cert <file>', 'serve the admin listener over HTTPS with this PEM certificate; with --admin-tls-key')
    .option('--admin-tls-key <file>', 'the PEM private key of --admin-tls-cert')
    .option('--workers <n>', `worker threads (default: ${defaultWorkers()}, the available cores)`, positiveInt)
    .option('--queue <n>', 'requests that may wait for a worker before 503', positiveInt)
    .option('--build', 'run each component build command first')
    .option('--data-dir <dir>', 'where SQLite key-value stores live (relative to the manifest folder)', DEFAULT_DATA_DIR)
    .option('--env-file <file>', 'a dotenv file with VERGE_VAR_* variable values')
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .option('--watch', 'build, then rebuild and reload an app when its manifest, module or build inputs change')
    .action(async (paths: string[], o: UpOptions) => {
      const apps = paths.length > 0 ? paths : ['.'];
      const tls = tlsFilesFrom(o.tlsCert, o.tlsKey, PUBLIC_TLS_FLAGS);
      const adminTls = tlsFilesFrom(o.adminTlsCert, o.adminTlsKey, ADMIN_TLS_FLAGS);
      // Like `spin watch`, watching starts from a fresh build: the sources are what is watched.
      if (o.build || o.watch) for (const p of apps) await buildApp(loadManifest(p), say);
      const node = await startNode({
        apps,
        listen: o.listen,
        admin: o.admin,
        workers: o.workers,
        queueLimit: o.queue,
        logLevel: o.logLevel,
        dataDir: o.dataDir,
        envFile: o.envFile,
        tls,
        adminTls,
      });
      for (const w of node.warnings) say(`Warning: ${w}`);
      say(`Serving ${[...node.registry.apps.keys()].join(', ')} on ${node.url}`);
      say('Available routes:');
      for (const v of node.registry.apps.values()) {
        const hosts = v.app.hosts.length > 0 ? ` (hosts ${v.app.hosts.map(hostPatternKey).join(', ')})` : '';
        for (const r of v.app.routes) say(`  ${node.registry.apps.size > 1 ? `${v.app.name}/` : ''}${r.component}: ${node.url}${r.path}${hosts}`);
      }
      if (node.adminUrl) say(`Metrics: ${node.adminUrl}/metrics`);
      const watcher = o.watch ? watchApps(node, say) : undefined;
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        say(`${signal}: draining in-flight requests…`);
        watcher?.close();
        node.close().then(
          () => process.exit(0),
          (err) => {
            say(`verge: ${String(err)}`);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      // Without TLS, SIGHUP keeps its default (the process ends, as when its terminal closes).
      if (tls || adminTls) {
        process.on('SIGHUP', () => {
          const failed = node.reloadTls();
          say(failed.length === 0 ? 'SIGHUP: TLS certificates reloaded' : `SIGHUP: ${failed.map((e) => e.message).join('; ')} (TLS_CONFIG_INVALID); the current certificate stays in use`);
        });
      }
    });

  program
    .command('check')
    .description('validate the manifest and every module without serving')
    .argument('[path]', 'a verge.toml or a folder holding one', '.')
    .option('--env-file <file>', 'a dotenv file with VERGE_VAR_* variable values')
    .action(async (path: string, o: { envFile?: string }) => {
      const app = loadManifest(path);
      resolveVariables(app.variables, { env: process.env, dotenv: o.envFile ? readDotenv(o.envFile) : undefined });
      const results = await Promise.allSettled([...app.components.values()].map((c) => loadComponent(c)));
      const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
      if (errors.length > 0) {
        for (const e of errors) say(e);
        process.exitCode = 1;
        return;
      }
      for (const r of results) {
        if (r.status !== 'fulfilled') continue;
        const c = app.components.get(r.value.spec.component)!;
        const loaded = r.value.component;
        if (!loaded) {
          say(`ok  ${c.name}: ${r.value.bytes} bytes, initial memory ${r.value.initialMemoryBytes / 1024} KiB, limit ${c.limits.memoryMib} MiB, timeout ${c.limits.timeoutMs} ms`);
          continue;
        }
        const how = loaded.transpileMs === undefined ? 'from the transpile cache' : `transpiled in ${loaded.transpileMs} ms`;
        const reuse = c.instanceReuse === 1 ? 'a fresh instance per request' : `instance_reuse ${c.instanceReuse}`;
        const form = loaded.fetchEvent ? 'wasi:http component (fetch-event handler)' : 'wasi:http component';
        say(`ok  ${c.name}: ${form}, ${r.value.bytes} bytes (${loaded.coreBytes} bytes of core modules), ${how}, ${reuse}, memory limit ${c.limits.memoryMib} MiB, timeout ${c.limits.timeoutMs} ms`);
        // A fetch-event handler answers one request per instance: reuse would break it, so no advice.
        if (c.instanceReuse === 1 && !loaded.fetchEvent && loaded.coreBytes > HEAVY_COMPONENT_BYTES) {
          say(
            `warn  ${c.name}: ${(loaded.coreBytes / 1048576).toFixed(1)} MiB of core modules (a JS engine?) instantiated for every request; ` +
              'if its handler can serve several requests (see docs/components.md), set instance_reuse = 100 on [component.' + c.name + '] for far higher throughput, at the cost of isolation between those requests',
          );
        }
      }
      say(`${app.file}: ${app.routes.length} routes, ${app.components.size} components: ok`);
    });

  program
    .command('build')
    .description("run each component's build command in its folder")
    .argument('[path]', 'a verge.toml or a folder holding one', '.')
    .action(async (path: string) => {
      const app = loadManifest(path);
      const n = await buildApp(app, say);
      say(n === 0 ? 'No component has a [component.NAME.build] command.' : `Built ${n} component${n === 1 ? '' : 's'}.`);
    });

  program
    .command('new')
    .description('create an app folder from a template')
    .addArgument(new Argument('<template>', 'what to create').choices(TEMPLATES))
    .argument('<name>', 'the app and component name (lowercase letters, digits, "-" and "_")')
    .option('--dir <dir>', 'the folder to create (default: ./NAME); must be empty or absent')
    .action(async (template: (typeof TEMPLATES)[number], name: string, o: { dir?: string }) => {
      try {
        const app = await newApp({ template, name, dir: o.dir });
        say(`Created ${app.dir}: ${app.files.join(', ')}`);
        say(`Next: cd ${o.dir ?? name} && verge build && verge up`);
      } catch (err) {
        if (!isVergeError(err, 'SCAFFOLD_REFUSED')) throw err;
        say(`verge new: ${err.message}`);
        process.exitCode = 1;
      }
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (isVergeError(err)) {
      say(err.message);
      say(`(${err.code})`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
