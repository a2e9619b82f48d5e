/**
 * Real NATS servers with JetStream for tests: Debian's `nats-server` (2.9) in a temp folder,
 * listening on free loopback ports, stopped by PID. One server, or a cluster of three whose routes
 * run over loopback. Needs Debian's `nats-server` package (.ci/run installs it).
 *
 * Each server gets a config file only for what has no flag: max_payload is raised to 2 MiB so a
 * 1 MiB value (the key-value limit) fits in one message with its headers; 2.9's default is 1 MB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alive, freePort, until as waitUntil } from './postgres.js';

const BINARY = '/usr/sbin/nats-server';
const READY_MS = 20_000;
const EXIT_MS = 10_000;

export interface NatsServer {
  readonly name: string;
  readonly port: number;
  /** `nats://127.0.0.1:PORT` */
  readonly url: string;
  readonly storeDir: string;
  /** The server's PID while it runs. */
  pid(): number | undefined;
  /** Graceful stop (SIGTERM), waiting for the process to exit. */
  stop(): Promise<void>;
  /** `kill -9`: no flush, no goodbye to clients or routes. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store folder. */
  start(): Promise<void>;
  /** What it printed, for a failing test's message. */
  log(): string;
}

export interface NatsCluster {
  readonly servers: readonly NatsServer[];
  /** Every server's URL, comma-separated: a client given all of them fails over. */
  readonly urls: string;
  /** Stops every server and removes the temp folder. */
  destroy(): Promise<void>;
}

export interface SingleNats extends NatsServer {
  /** Stops it and removes the temp folder. */
  destroy(): Promise<void>;
}

const until = (cond: () => boolean | Promise<boolean>, what: string, ms: number) => waitUntil(cond, what, ms, 'nats-server');

/** GETs a monitoring endpoint; undefined while the server is not answering. */
async function monitor(port: number, route: string): Promise<unknown> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${route}`, { signal: AbortSignal.timeout(1000) });
    return res.ok ? await res.json() : undefined;
  } catch {
    return undefined;
  }
}

interface ServerPlan {
  name: string;
  dir: string;
  port: number;
  monitorPort: number;
  cluster?: { port: number; routes: string[]; name: string; size: number };
  /** Clients must present this token (`nats://TOKEN@host`). */
  token?: string;
  /** PEM files: the server requires TLS (`tls://host`). */
  tls?: { cert: string; key: string };
}

function makeServer(plan: ServerPlan): NatsServer {
  const storeDir = path.join(plan.dir, 'jetstream');
  const config = path.join(plan.dir, 'server.conf');
  mkdirSync(storeDir, { recursive: true });
  const tls = plan.tls ? `tls { cert_file: ${JSON.stringify(plan.tls.cert)}, key_file: ${JSON.stringify(plan.tls.key)} }\n` : '';
  writeFileSync(config, `max_payload: 2097152\n${plan.token ? `authorization { token: ${JSON.stringify(plan.token)} }\n` : ''}${tls}`);
  let child: ChildProcess | undefined;
  let output = '';
  const pid = () => (child?.pid !== undefined && child.exitCode === null && child.signalCode === null && alive(child.pid) ? child.pid : undefined);

  const ready = async (): Promise<boolean> => {
    if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server ${plan.name} exited at start:\n${output.slice(-2000)}`);
    // /healthz answers 200 once JetStream is up (and, in a cluster, its meta group is current).
    const health = (await monitor(plan.monitorPort, '/healthz')) as { status?: string } | undefined;
    if (health?.status !== 'ok') return false;
    if (!plan.cluster) return true;
    const jsz = (await monitor(plan.monitorPort, '/jsz')) as { meta_cluster?: { leader?: string; cluster_size?: number } } | undefined;
    return Boolean(jsz?.meta_cluster?.leader);
  };

  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const p = pid();
    if (p === undefined) return;
    const exited = new Promise((r) => child!.once('exit', r));
    process.kill(p, signal);
    await until(() => !alive(p), `${plan.name} exit after ${signal}`, EXIT_MS);
    await exited;
  };

  return {
    name: plan.name,
    port: plan.port,
    url: `nats://127.0.0.1:${plan.port}`,
    storeDir,
    pid,
    async start() {
      if (pid() !== undefined) return;
      const args = ['-js', '-sd', storeDir, '-a', '127.0.0.1', '-p', String(plan.port), '-m', String(plan.monitorPort), '-n', plan.name, '-c', config];
      if (plan.cluster) {
        args.push('--cluster', `nats://127.0.0.1:${plan.cluster.port}`, '--cluster_name', plan.cluster.name);
        if (plan.cluster.routes.length > 0) args.push('--routes', plan.cluster.routes.join(','));
      }
      child = spawn(BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (d) => (output += d));
      child.stderr!.on('data', (d) => (output += d));
      await until(ready, `${plan.name} ready (JetStream up)`, READY_MS);
    },
    stop: () => stopWith('SIGTERM'),
    kill: () => stopWith('SIGKILL'),
    log: () => output,
  };
}

function checkInstalled(): void {
  if (!existsSync(BINARY)) throw new Error(`nats-server is not installed (no ${BINARY}): apt-get install nats-server, as .ci/run does`);
}

/**
 * One server with JetStream on a free loopback port (or `port`, chosen before: a test that starts
 * Verge first); with `token`, clients must present it; with `tls`, they must use TLS.
 */
export async function startNats(opts: { port?: number; token?: string; tls?: { cert: string; key: string } } = {}): Promise<SingleNats> {
  checkInstalled();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-nats-'));
  const server = makeServer({ name: 'n1', dir, port: opts.port ?? (await freePort()), monitorPort: await freePort(), token: opts.token, tls: opts.tls });
  try {
    await server.start();
  } catch (err) {
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    ...server,
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Three servers with JetStream, routed to each other on loopback: streams may have 3 replicas. */
export async function startNatsCluster(size = 3): Promise<NatsCluster> {
  checkInstalled();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-nats-cluster-'));
  const clusterPorts: number[] = [];
  for (let i = 0; i < size; i++) clusterPorts.push(await freePort());
  const servers: NatsServer[] = [];
  for (let i = 0; i < size; i++) {
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`);
    const name = `n${i + 1}`;
    const serverDir = path.join(dir, name);
    mkdirSync(serverDir);
    servers.push(makeServer({ name, dir: serverDir, port: await freePort(), monitorPort: await freePort(), cluster: { port: clusterPorts[i]!, routes, name: 'verge-test', size } }));
  }
  const destroy = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    // Together: each server's JetStream waits for a meta leader, which needs a quorum of peers.
    await Promise.all(servers.map((s) => s.start()));
  } catch (err) {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${servers.map((s) => `--- ${s.name}\n${s.log().slice(-1500)}`).join('\n')}`);
  }
  return { servers, urls: servers.map((s) => s.url).join(','), destroy };
}
