/** Commander wiring only: each verb's work lives in its own module. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { isVergeError } from '../errors.js';
import { loadManifest } from '../manifest/load.js';
import { isDependencyOnly } from '../manifest/dependencies.js';
import { HEAVY_COMPONENT_BYTES, loadComponent } from '../loader/module.js';
import { DEFAULT_LISTEN, defaultWorkers, parseListen, startNode } from '../node/start.js';
import { DEFAULT_IDLE_WORKERS } from '../dispatch/worker-spawn.js';
import { LOG_FORMATS, LOG_LEVELS, defaultLogFormat, type LogFormat, type LogLevel } from '../telemetry/logging.js';
import { RECORD_LEVELS, recordFromJson, type RecordJson, type RecordLevel } from '../telemetry/log-record.js';
import { formatPretty } from '../telemetry/log-pretty.js';
import { readLogs } from './logs.js';
import { buildApp } from './build.js';
import { bundleApp } from './bundle.js';
import { watchApps } from './watch.js';
import { hostPatternKey } from '../manifest/hosts.js';
import { addComponent, listTemplates, newApp, nextSteps, TEMPLATES, type TemplateName } from './new.js';
import { keygenCommand, signCommand, verifyCommand, type SignOptions, type VerifyOptions } from './sign.js';
import { readDotenv, resolveVariables } from '../capabilities/variables/resolve.js';
import { DEFAULT_DATA_DIR } from '../capabilities/index.js';
import { AdminCallError, adminTarget, type AdminTarget } from './admin-client.js';
import { deploy, listVersions, rollback, status } from './deploy.js';
import { ADMIN_TLS_FLAGS, PUBLIC_TLS_FLAGS, tlsFilesFrom } from '../node/tls.js';
import { snapshotFiles } from '../capabilities/files/snapshot.js';
import { HostCallError } from '../capabilities/abi.js';
import { doctor, formatResult } from './doctor.js';
import { clusterStatus } from './cluster.js';
import { CREDENTIALS_ENV } from '../cluster/options.js';
import { packageVersion } from '../package-files.js';
import { KV_LIST_PAGE, KvCliError, allKeys, checkInput, keyLine, openLocalKv, remoteAppName, remoteKv, valueOutput, valueToStore, type KvSession } from './kv.js';

const say = (line: string) => process.stderr.write(line + '\n');


interface LogsCliOptions {
  from?: string;
  tokenFile?: string;
  app?: string;
  component?: string;
  level?: RecordLevel;
  requestId?: string;
  search?: string;
  limit?: number;
  follow?: boolean;
  format: LogFormat;
}

interface KvCliOptions {
  store: string;
  app?: string;
  dataDir: string;
  from?: string;
  tokenFile?: string;
}

interface UpOptions {
  listen: string;
  admin?: string;
  workers?: number;
  idleWorkers?: number;
  queue?: number;
  build?: boolean;
  watch?: boolean;
  logLevel: LogLevel;
  logFormat?: LogFormat;
  dataDir: string;
  envFile?: string;
  runtimeConfigFile?: string;
  adminTokenFile?: string;
  retainUploads?: number;
  trustKey: string[];
  trustFile?: string;
  revocationFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  adminTlsCert?: string;
  adminTlsKey?: string;
  kvWrites?: boolean;
  /** Undefined unless --dev or --no-dev was given: --watch then decides. */
  dev?: boolean;
  cluster?: string;
  nodeId?: string;
  region?: string;
  clusterCredsFile?: string;
  clusterReplicas?: number;
  clusterHeartbeat?: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function wholeNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number (0 or more)');
  return n;
}

function percent(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError('expected a whole percentage from 1 to 100');
  return n;
}
function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.1 || n > 3600) throw new InvalidArgumentError('expected seconds from 0.1 to 3600');
  return n;
}

/** The cluster flags, or undefined without --cluster (the others alone are a usage error). */
function clusterFlags(o: UpOptions, program: Command) {
  if (!o.cluster) {
    const stray = (['nodeId', 'region', 'clusterCredsFile', 'clusterReplicas', 'clusterHeartbeat'] as const).filter((k) => o[k] !== undefined);
    if (stray.length > 0) program.error(`error: --node-id, --region and the other --cluster-* flags need --cluster nats://HOST:PORT`);
    return undefined;
  }
  return { urls: o.cluster, nodeId: o.nodeId, region: o.region, credsFile: o.clusterCredsFile, replicas: o.clusterReplicas, heartbeatMs: o.clusterHeartbeat === undefined ? undefined : Math.round(o.clusterHeartbeat * 1000) };
}

/** For repeatable options: each occurrence adds to the list. */
const collect = (value: string, previous: string[]) => [...previous, value];

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
    .argument('[paths...]', 'verge.toml (or spin.toml) files or folders holding one (default: the current folder)')
    .option('--listen <host:port>', 'address to serve on', listenAddress, DEFAULT_LISTEN)
    .option('--admin <host:port>', 'serve the admin API (deploys, versions) and GET /metrics on this address (off by default)', listenAddress)
    .option('--admin-token-file <file>', 'the admin API bearer token (else VERGE_ADMIN_TOKEN); required when --admin is not on loopback')
    .option('--retain-uploads <n>', 'uploaded versions kept besides every version that was ever live (default 10)', positiveInt)
    .option('--trust-key <file>', 'a trusted public signing key (repeatable): every module must then be signed by a trusted key', collect, [] as string[])
    .option('--trust-file <file>', 'a file listing trusted public key files, one per line')
    .option('--revocation-file <file>', 'revoked key ids, one per line; re-read when it changes')
    .option('--tls-cert <file>', 'serve HTTPS (HTTP/2 and HTTP/1.1) with this PEM certificate (chain); with --tls-key')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--admin-tls-cert <file>', 'serve the admin listener over HTTPS with this PEM certificate; with --admin-tls-key')
    .option('--admin-tls-key <file>', 'the PEM private key of --admin-tls-cert')
    .option('--workers <n>', `worker threads at most (default: ${defaultWorkers()}, the available cores)`, positiveInt)
    .option('--idle-workers <n>', `worker threads kept with no load (default ${DEFAULT_IDLE_WORKERS}); more start as requests wait, up to --workers, and go after 30 s idle`, positiveInt)
    .option('--queue <n>', 'requests that may wait for a worker before 503', positiveInt)
    .option('--build', 'run each component build command first')
    .option('--data-dir <dir>', 'where SQLite key-value stores live (relative to the manifest folder); uploaded versions live here too (relative to the current folder)', DEFAULT_DATA_DIR)
    .option('--env-file <file>', 'a dotenv file with VERGE_VAR_* variable values')
    .option('--runtime-config-file <file>', "a Spin runtime config for a spin.toml app: its [key_value_store.LABEL] tables (docs/spin.md)")
    .addOption(new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--log-format <format>', 'log lines on stdout: readable, or JSON (default: pretty on a terminal, else json)').choices(LOG_FORMATS))
    .option('--watch', 'build, then rebuild and reload an app when its manifest, module or build inputs change')
    .option('--kv-writes', 'let the admin API set and delete key-value store keys (verge kv set/delete --from); off by default')
    .option('--dev', "development mode: a failing guest's panic message and Wasm backtrace go in its 500 body too (always in the log); on by default with --watch")
    .option('--no-dev', 'with --watch: keep guest panic messages and backtraces out of response bodies')
    .option('--cluster <urls>', 'join a cluster over NATS JetStream: nats://HOST:PORT or tls://…, comma-separated (docs/cluster.md)')
    .option('--node-id <id>', 'with --cluster: this node\'s id (default: one made once and kept under --data-dir)')
    .option('--region <region>', 'with --cluster: the region this node reports')
    .option('--cluster-creds-file <file>', `with --cluster: a NATS .creds file (JWT and NKey seed); else user:password or a token in the URL or ${CREDENTIALS_ENV}`)
    .option('--cluster-replicas <n>', 'with --cluster: replicas of the node bucket when this node creates it (default 1)', positiveInt)
    .option('--cluster-heartbeat <seconds>', 'with --cluster: seconds between heartbeats (default 2); gone after 3 missed', positiveSeconds)
    .action(async (paths: string[], o: UpOptions) => {
      // A node with an admin listener may start with no app from a path: it serves what was deployed to it.
      const apps = paths.length > 0 ? paths : o.admin && !existsSync('verge.toml') && !existsSync('spin.toml') ? [] : ['.'];
      const tls = tlsFilesFrom(o.tlsCert, o.tlsKey, PUBLIC_TLS_FLAGS);
      const adminTls = tlsFilesFrom(o.adminTlsCert, o.adminTlsKey, ADMIN_TLS_FLAGS);
      // Like `spin watch`, watching starts from a fresh build: the sources are what is watched.
      if (o.build || o.watch) for (const p of apps) await buildApp(loadManifest(p, { runtimeConfigFile: o.runtimeConfigFile }), say);
      const node = await startNode({
        apps,
        listen: o.listen,
        admin: o.admin,
        workers: o.workers,
        idleWorkers: o.idleWorkers,
        queueLimit: o.queue,
        logLevel: o.logLevel,
        logFormat: defaultLogFormat(o.logFormat, process.stdout.isTTY === true),
        logColor: process.stdout.isTTY === true && process.stdout.hasColors(),
        dataDir: o.dataDir,
        envFile: o.envFile,
        runtimeConfigFile: o.runtimeConfigFile,
        adminTokenFile: o.adminTokenFile,
        retainUploads: o.retainUploads,
        trust: { trustKeyFiles: o.trustKey, trustFile: o.trustFile, revocationFile: o.revocationFile },
        tls,
        adminTls,
        kvWrites: o.kvWrites,
        dev: o.dev ?? o.watch === true,
        cluster: clusterFlags(o, program),
      });
      // The banner is one write, so a reader never sees "Serving" without the routes after it.
      const banner: string[] = node.warnings.map((w) => `Warning: ${w}`);
      const names = [...node.registry.apps.keys()];
      banner.push(names.length > 0 ? `Serving ${names.join(', ')} on ${node.url}` : `Serving no app yet on ${node.url} (deploy one through ${node.adminUrl})`);
      banner.push('Available routes:');
      for (const v of node.registry.apps.values()) {
        const hosts = v.app.hosts.length > 0 ? ` (hosts ${v.app.hosts.map(hostPatternKey).join(', ')})` : '';
        for (const r of v.app.routes) {
          const where = r.private ? `${r.path} (private: chained calls only)` : `${node.url}${r.path}${hosts}`;
          const through = r.middleware.length > 0 ? ` through ${r.middleware.join(', ')}` : '';
          banner.push(`  ${node.registry.apps.size > 1 ? `${v.app.name}/` : ''}${r.component}: ${where}${through}`);
        }
      }
      if (node.cluster) banner.push(`Cluster: joining ${node.cluster.servers} as ${node.cluster.nodeId}${node.cluster.region ? ` (region ${node.cluster.region})` : ''}; see verge cluster status`);
      if (node.adminUrl) banner.push(`Dashboard: ${node.adminUrl}/`);
      if (node.adminUrl) banner.push(`Admin API: ${node.adminUrl}/v1/apps; metrics: ${node.adminUrl}/metrics`);
      say(banner.join('\n'));
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
    .argument('[path]', 'a verge.toml or spin.toml, or a folder holding one', '.')
    .option('--env-file <file>', 'a dotenv file with VERGE_VAR_* variable values')
    .option('--runtime-config-file <file>', 'a Spin runtime config for a spin.toml app (docs/spin.md)')
    .action(async (path: string, o: { envFile?: string; runtimeConfigFile?: string }) => {
      const app = loadManifest(path, { runtimeConfigFile: o.runtimeConfigFile });
      resolveVariables(app.variables, { env: process.env, dotenv: o.envFile ? readDotenv(o.envFile) : undefined });
      // A component that is only a dependency is loaded with each component it serves.
      const served = [...app.components.values()].filter((c) => !isDependencyOnly(app, c.name));
      const [mounted, ...results] = await Promise.allSettled([snapshotFiles(app), ...served.map((c) => loadComponent(c))]);
      const errors = [mounted!, ...results].flatMap((r) => (r.status === 'rejected' ? [r.reason instanceof Error ? r.reason.message : String(r.reason)] : []));
      if (errors.length > 0) {
        for (const e of errors) say(e);
        process.exitCode = 1;
        return;
      }
      for (const r of results as Array<PromiseSettledResult<Awaited<ReturnType<typeof loadComponent>>>>) {
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
        for (const d of loaded.dependencies) say(`ok  ${d}: linked, its import and export types match`);
        // A fetch-event handler answers one request per instance: reuse would break it, so no advice.
        if (c.instanceReuse === 1 && !loaded.fetchEvent && loaded.coreBytes > HEAVY_COMPONENT_BYTES) {
          say(
            `warn  ${c.name}: ${(loaded.coreBytes / 1048576).toFixed(1)} MiB of core modules (a JS engine?) instantiated for every request; ` +
              'if its handler can serve several requests (see docs/components.md), set instance_reuse = 100 on [component.' + c.name + '] for far higher throughput, at the cost of isolation between those requests',
          );
        }
      }
      const files = mounted!.status === 'fulfilled' ? mounted!.value?.listing : undefined;
      if (files) say(`ok  mounted files: ${files.length}, ${files.reduce((n, f) => n + f.size, 0)} bytes`);
      say(`${app.file}: ${app.routes.length} routes, ${app.components.size} components: ok`);
    });

  program
    .command('build')
    .description("run each component's build command in its folder")
    .argument('[path]', 'a verge.toml or spin.toml, or a folder holding one', '.')
    .option('--runtime-config-file <file>', 'a Spin runtime config for a spin.toml app (docs/spin.md)')
    .action(async (path: string, o: { runtimeConfigFile?: string }) => {
      const app = loadManifest(path, { runtimeConfigFile: o.runtimeConfigFile });
      const n = await buildApp(app, say);
      say(n === 0 ? 'No component has a [component.NAME.build] command.' : `Built ${n} component${n === 1 ? '' : 's'}.`);
    });

  program
    .command('bundle')
    .description('pack an app (its manifest and the modules it names) into one file to upload to a node')
    .argument('[path]', 'a verge.toml or a folder holding one', '.')
    .option('-o, --output <file>', 'where to write it (default: NAME.vbundle in the current folder)')
    .action(async (path: string, o: { output?: string }) => {
      const b = await bundleApp(path, o.output);
      const unpacked = b.files.reduce((sum, f) => sum + f.size, 0);
      say(`Bundled ${b.app}: ${b.files.length} file${b.files.length === 1 ? '' : 's'}, ${unpacked} bytes (${b.bytes} compressed) in ${b.file}`);
      say(`id ${b.id}`);
      // The id alone on stdout, for scripts: ID=$(verge bundle).
      process.stdout.write(`${b.id}\n`);
    });

  /** new/add: a refusal the user can fix, or a manifest `add` cannot read, is one line and exit code 1. */
  const scaffold = async (command: string, run: () => Promise<void>) => {
    try {
      await run();
    } catch (err) {
      if (!isVergeError(err, 'SCAFFOLD_REFUSED') && !isVergeError(err, 'MANIFEST_INVALID')) throw err;
      say(`verge ${command}: ${err.message}`);
      process.exitCode = 1;
    }
  };

  program
    .command('new')
    .description('create an app folder from a template (verge new --list names them)')
    .argument('[template]', `what to create: ${TEMPLATES.join(', ')}`)
    .argument('[name]', 'the app and component name (lowercase letters, digits, "-" and "_")')
    .option('--list', 'list the templates, one line each')
    .option('--dir <dir>', 'the folder to create (default: ./NAME); must be empty or absent')
    .action(async (template: string | undefined, name: string | undefined, o: { dir?: string; list?: boolean }, cmd: Command) => {
      if (o.list) {
        const width = Math.max(...TEMPLATES.map((t) => t.length));
        for (const [t, description] of listTemplates()) process.stdout.write(`${t.padEnd(width)}  ${description}\n`);
        return;
      }
      if (!template || !name) cmd.error('verge new: expected TEMPLATE and NAME (verge new --list names the templates)');
      await scaffold('new', async () => {
        const app = await newApp({ template: template as TemplateName, name, dir: o.dir });
        say(`Created ${app.dir}: ${app.files.length} files`);
        say(`Next: cd ${o.dir ?? name} && ${nextSteps(template as TemplateName)}`);
      });
    });

  program
    .command('add')
    .description("add a component from a template to an existing app, with a route to it, appended to its verge.toml")
    .argument('<template>', `what to add: ${TEMPLATES.join(', ')}`)
    .argument('<name>', 'the component name (lowercase letters, digits, "-" and "_")')
    .argument('[path]', 'the app: a verge.toml or a folder holding one', '.')
    .option('--route <path>', 'the route to serve it on (default: /NAME/...)')
    .option('--dir <dir>', "the component's folder, relative to the app's folder (default: NAME)")
    .action(async (template: string, name: string, appPath: string, o: { route?: string; dir?: string }) => {
      await scaffold('add', async () => {
        const added = await addComponent({ template: template as TemplateName, name, app: appPath, route: o.route, dir: o.dir });
        say(`Added ${name} (${template}) in ${added.dir}: ${added.files.length} files`);
        say(`Routed ${added.route} to ${name} in ${added.manifest}`);
        say('Next: verge build && verge up (see its README.md)');
      });
    });

  const reportRefusal = async (run: () => Promise<void>) => {
    try {
      await run();
    } catch (err) {
      if (!(err instanceof AdminCallError)) throw err;
      say(`verge: ${err.message}${err.code ? ` (${err.code})` : ''}`);
      process.exitCode = err.exitCode;
    }
  };
  const remote = (run: (target: AdminTarget) => Promise<void>) => (target: AdminTarget) => reportRefusal(() => run(target));
  const targetOf = (o: { to?: string; from?: string; tokenFile?: string }) => adminTarget(o.to ?? o.from, o.tokenFile);

  program
    .command('deploy')
    .description("bundle an app, upload it to a node's admin API and make it serve (prints the version id)")
    .argument('[path]', 'a verge.toml or a folder holding one', '.')
    .option('--to <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .option('--weight <percent>', 'share of the traffic for the new version (1-100); the current version keeps the rest', percent, 100)
    .option('--sticky <how>', 'keep each client on one version: header:NAME, cookie[:NAME] (a cookie Verge sets) or client')
    .option('--key <file>', 'sign the manifest and every module with this private key first')
    .option('--build', "run each component's build command first")
    .option('--health <path>', 'wait until the new version answers this path on the public listener with a 2xx')
    .option('--health-timeout <ms>', 'how long to wait for the health path (default 30000)', positiveInt)
    .action(async (p: string, o: { to?: string; tokenFile?: string; weight: number; sticky?: string; key?: string; build?: boolean; health?: string; healthTimeout?: number }) => {
      await remote(async (target) => {
        if (o.build) await buildApp(loadManifest(p), say);
        const id = await deploy({ path: p, target, weight: o.weight, key: o.key, sticky: o.sticky, health: o.health, healthTimeoutMs: o.healthTimeout, say, progress: true });
        process.stdout.write(id + '\n');
      })(targetOf(o));
    });

  program
    .command('versions')
    .description("list an app's versions on a node")
    .argument('<app>', 'the app name')
    .option('--from <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .action(async (app: string, o: { from?: string; tokenFile?: string }) => {
      await remote((target) => listVersions(target, app, (l) => process.stdout.write(l + '\n')))(targetOf(o));
    });

  program
    .command('rollback')
    .description('serve the deployment before the current one, or one version alone')
    .argument('<app>', 'the app name')
    .argument('[version]', 'a version id (or a unique prefix of one); default: the previous deployment')
    .option('--to <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .action(async (app: string, version: string | undefined, o: { to?: string; tokenFile?: string }) => {
      await remote((target) => rollback(target, app, version, say))(targetOf(o));
    });

  program
    .command('status')
    .description('per version: weight, requests, 5xx rate and p50/p99 over the last minute, and automatic rollbacks')
    .argument('[app]', 'one app (default: every deployed app)')
    .option('--from <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .action(async (app: string | undefined, o: { from?: string; tokenFile?: string }) => {
      await remote((target) => status(target, app, (l) => process.stdout.write(l + '\n')))(targetOf(o));
    });

  program
    .command('cluster')
    .description('the cluster a node is in (verge up --cluster)')
    .command('status')
    .description('the nodes of the cluster: region, last seen, live or gone, what each serves')
    .option('--from <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .option('--json', 'print the node\'s answer as JSON')
    .action(async (o: { from?: string; tokenFile?: string; json?: boolean }) => {
      await remote(async (target) => {
        const print = (l: string) => process.stdout.write(l + '\n');
        if (!o.json) return void (await clusterStatus(target, print));
        const answer = await clusterStatus(target, () => {});
        print(JSON.stringify(answer, null, 2));
      })(targetOf(o));
    });

  program
    .command('logs')
    .description("a node's recent log records, and with --follow each new one as it is logged (like wrangler tail)")
    .option('--from <url>', "the node's admin URL (else VERGE_ADMIN_URL)")
    .option('--token-file <file>', 'the admin token (else VERGE_ADMIN_TOKEN)')
    .option('--app <name>', "only this app's records")
    .option('--component <name>', "only this component's records")
    .addOption(new Option('--level <level>', 'only records at this level or above').choices(RECORD_LEVELS))
    .option('--request-id <id>', 'only the records of one request (its x-request-id)')
    .option('--search <text>', 'only records whose message or a field holds this text (any case)')
    .option('-n, --limit <n>', 'how many recent records to print first (default 100; 0 with --follow: new ones only)', wholeNumber)
    .option('-f, --follow', 'keep printing new records until Ctrl-C')
    .addOption(new Option('--format <format>', 'readable lines, or one JSON record a line').choices(LOG_FORMATS).default('pretty'))
    .action(async (o: LogsCliOptions) => {
      // `verge logs | head` closes the pipe early: that ends the command, it is not an error.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') throw err;
        process.exit(0);
      });
      const color = o.format === 'pretty' && process.stdout.isTTY === true && process.stdout.hasColors();
      const print = (r: RecordJson) => process.stdout.write((o.format === 'json' ? JSON.stringify(r) : formatPretty(recordFromJson(r), { color })) + '\n');
      const filter = { app: o.app, component: o.component, level: o.level, request_id: o.requestId, q: o.search };
      await remote((target) =>
        readLogs(target, { filter, limit: o.limit, follow: o.follow === true, onFollowing: () => say(`Following the log of ${target.url.origin} (Ctrl-C to stop)`), onDropped: (n) => say(`verge: the node dropped ${n} records: this reader fell behind`) }, print),
      )(targetOf(o));
    });

  const kv = program
    .command('kv')
    .description("read and write an app's key-value store: its files here, or a running node's (--from)");
  const kvCommand = (name: string, description: string) =>
    kv
      .command(name)
      .description(description)
      .option('--store <name>', 'the store, as [key_value_stores.NAME] declares it', 'default')
      .option('--app <path|name>', 'the app: a verge.toml or its folder (default: .); with --from, its name also does')
      .option('--data-dir <dir>', 'where the SQLite stores live, relative to the manifest folder, as verge up --data-dir', DEFAULT_DATA_DIR)
      .option('--from <url>', "a running node's admin URL (else the store files here are opened)")
      .option('--token-file <file>', 'the admin token for --from (else VERGE_ADMIN_TOKEN)');
  /** Opens the session, runs `use`, closes; refusals are one line and exit 1 (a node's refusal: admin-client.ts EXIT). */
  const withKv = (o: KvCliOptions, use: (session: KvSession) => Promise<void>) =>
    reportRefusal(async () => {
      let session: KvSession | undefined;
      try {
        if (o.from) {
          const target = adminTarget(o.from, o.tokenFile);
          session = remoteKv(target, await remoteAppName(target, o.app), o.store);
        } else {
          session = openLocalKv({ app: o.app ?? '.', dataDir: o.dataDir, store: o.store });
        }
        await use(session);
      } catch (err) {
        if (!(err instanceof KvCliError) && !(err instanceof HostCallError)) throw err;
        say(`verge kv: ${err instanceof HostCallError && session ? `${session.where}: ` : ''}${err.message}`);
        process.exitCode = 1;
      } finally {
        session?.close();
      }
    });
  const noKey = (session: KvSession, key: string) => new KvCliError(`${session.where} has no key ${JSON.stringify(key)}`);

  kvCommand('list', 'print the keys, one a line, in byte order')
    .option('--prefix <text>', 'only keys that start with this', '')
    .option('--limit <n>', `one page of at most this many keys (else every key, ${KV_LIST_PAGE} a request)`, positiveInt)
    .option('--cursor <key>', 'start after this key (the cursor a page printed)')
    .action((o: KvCliOptions & { prefix: string; limit?: number; cursor?: string }) =>
      withKv(o, async (session) => {
        process.stdout.on('error', (err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPIPE') throw err;
          process.exit(0);
        });
        if (o.limit === undefined) {
          for await (const key of allKeys(session, o.prefix, o.cursor)) process.stdout.write(keyLine(key) + '\n');
          return;
        }
        const page = await session.list(o.prefix, o.cursor, o.limit);
        for (const key of page.keys) process.stdout.write(keyLine(key) + '\n');
        if (page.next !== null) say(`more keys follow: --cursor ${JSON.stringify(page.next)}`);
      }),
    );

  kvCommand('get', 'print a value: text as stored, binary as hex on a terminal; exit 1 if the key is missing')
    .argument('<key>', 'the key')
    .option('--json', 'pretty-print it as JSON (exit 1 if it is not JSON)')
    .option('--hex', 'print a hex dump')
    .option('--out <file>', 'write the exact bytes to this file instead')
    .action((key: string, o: KvCliOptions & { json?: boolean; hex?: boolean; out?: string }) =>
      withKv(o, async (session) => {
        checkInput(key);
        const value = await session.get(key);
        if (value === undefined) throw noKey(session, key);
        if (o.out) {
          writeFileSync(o.out, value);
          say(`wrote ${value.length} bytes to ${o.out}`);
          return;
        }
        const out = valueOutput(value, { json: o.json === true, hex: o.hex === true, tty: process.stdout.isTTY === true });
        if (out.note) say(out.note);
        process.stdout.write(out.bytes);
      }),
    );

  kvCommand('set', 'store a value, given as text or with --file')
    .argument('<key>', 'the key')
    .argument('[value]', 'the value as text (or --file)')
    .option('--file <path>', "store this file's bytes")
    .option('--json', 'refuse the value unless it is JSON')
    .action((key: string, value: string | undefined, o: KvCliOptions & { file?: string; json?: boolean }) =>
      withKv(o, async (session) => {
        const bytes = valueToStore({ value, file: o.file === undefined ? undefined : readFileSync(o.file), json: o.json === true });
        checkInput(key, bytes);
        await session.set(key, bytes);
        say(`set ${JSON.stringify(key)} in ${session.where}: ${bytes.length} bytes`);
      }),
    );

  kvCommand('delete', 'delete a key; exit 1 if there was none')
    .argument('<key>', 'the key')
    .action((key: string, o: KvCliOptions) =>
      withKv(o, async (session) => {
        checkInput(key);
        if (!(await session.delete(key))) throw noKey(session, key);
        say(`deleted ${JSON.stringify(key)} from ${session.where}`);
      }),
    );

  program
    .command('doctor')
    .description('check the toolchains the templates use and what each app in a folder needs, with the fix for each problem')
    .argument('[path]', 'a folder of apps (itself and its subfolders) or a verge.toml', '.')
    .option('--listen <host:port>', 'the address verge up will serve on', listenAddress, DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'as verge up --data-dir, relative to each manifest folder', DEFAULT_DATA_DIR)
    .action(async (p: string, o: { listen: string; dataDir: string }) => {
      const { results, failed } = await doctor({ path: p, listen: o.listen, dataDir: o.dataDir, env: process.env });
      for (const r of results) process.stdout.write(formatResult(r) + '\n');
      if (failed) {
        say('verge doctor: an app needs what failed above');
        process.exitCode = 1;
      }
    });

  program
    .command('keygen')
    .description('make an Ed25519 key pair for signing: PREFIX.key (private, mode 0600) and PREFIX.pub; never overwrites')
    .option('-o, --output <prefix>', 'the path and name of the two files, without extension', 'verge')
    .action((o: { output: string }) => keygenCommand(o.output, say));

  program
    .command('sign')
    .description('sign a module or component (embedded, first section), adding to the signatures it has; or any file with --detached')
    .argument('<file>', 'the .wasm file (or, with --detached, any file such as verge.toml)')
    .requiredOption('--key <file>', 'the private key (from verge keygen, or a wasmsign2 secret key)')
    .option('-o, --output <file>', 'write the signed module here instead of replacing the file')
    .addOption(new Option('--detached <sigfile>', 'write the signature to this file (adding to it if it exists); the signed file is not changed').conflicts('output'))
    .action((file: string, o: SignOptions) => signCommand(file, o, say));

  program
    .command('verify')
    .description('check that a trusted key signed a module (or a file, with --signature); exit 1 with the reason if not')
    .argument('<file>', 'the .wasm file, or a file with a detached signature')
    .option('--trust-key <file>', 'a trusted public key file (repeatable)', collect, [])
    .option('--trust-file <file>', 'a file of trusted PEM public keys')
    .option('--revocation-file <file>', 'revoked key ids, one per line')
    .option('--signature <sigfile>', 'a detached signature (default: the one embedded in the module)')
    .action((file: string, o: VerifyOptions & { trustKey: string[] }, cmd: Command) => {
      if (o.trustKey.length === 0 && !o.trustFile) cmd.error('error: give at least one --trust-key FILE or a --trust-file FILE: the keys a signature must be by');
      verifyCommand(file, { trustKeyFiles: o.trustKey, trustFile: o.trustFile, revocationFile: o.revocationFile, signature: o.signature }, say);
    });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof AdminCallError) {
      say(`verge: ${err.message}`);
      process.exitCode = err.exitCode;
      return;
    }
    if (isVergeError(err)) {
      say(err.message);
      say(`(${err.code})`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}
