/**
 * A real PostgreSQL server for tests: a fresh cluster in a temp folder, listening on a free
 * loopback port, stopped by PID. PostgreSQL refuses to run as root, so as root the server runs
 * as the `postgres` user (runuser). Needs Debian's `postgresql` package (.ci/run installs it).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { selfSigned } from './tls.js';

export const PG_USER = 'verge';
export const PG_PASSWORD = 'pw-7d1f0a9c3e5b';

export interface PostgresServer {
  port: number;
  dir: string;
  /** `postgres://verge:PASSWORD@127.0.0.1:PORT/DB` (the superuser). */
  url(database?: string): string;
  /** With `tls`: the PEM of the server's self-signed certificate (for localhost and 127.0.0.1), to trust as a CA. */
  ca: string | undefined;
  /** Runs SQL as the superuser on its own connection. */
  sql(text: string, params?: unknown[], database?: string): Promise<pg.QueryResult>;
  /** The postmaster's PID (from postmaster.pid), while it runs. */
  pid(): number | undefined;
  /** Fast shutdown (SIGINT to the postmaster), waiting for it to exit. */
  stop(): Promise<void>;
  /** Immediate shutdown (SIGQUIT): every backend quits at once, mid-query, as in a crash. */
  crash(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

function binDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'postgres'))) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): apt-get install postgresql, as .ci/run does');
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, 'bin');
}

/** Runs as `postgres` when this process is root (PostgreSQL refuses root). */
function asServerUser(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** Ports this process has handed out: the kernel may offer a just-closed port again, and a test that asks for several before binding any (a NATS cluster) must not get one twice. */
const handedOut = new Set<number>();

export async function freePort(): Promise<number> {
  for (;;) {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `cond` every 50 ms, failing after `ms` with `who: what not within ms`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, ms: number, who = 'PostgreSQL'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${who}: ${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `port`: a port chosen before (a test that starts the node first, with the database down).
 * `tls`: the server also accepts TLS, with a self-signed certificate for localhost and 127.0.0.1.
 */
export async function startPostgres(opts: { settings?: Record<string, string>; port?: number; tls?: boolean } = {}): Promise<PostgresServer> {
  const bin = binDir();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-pg-'));
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, `${PG_PASSWORD}\n`);
  const certificate = opts.tls ? selfSigned(dir, 'server') : undefined;
  if (certificate) chmodSync(certificate.key, 0o600);
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of [dir, pwfile, ...(certificate ? [certificate.cert, certificate.key] : [])]) chownSync(f, uid, gid);
  }
  chmodSync(dir, 0o700);
  const [initCmd, initArgs] = asServerUser(path.join(bin, 'initdb'), [
    '-D', data, '-U', PG_USER, `--pwfile=${pwfile}`, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync',
  ]);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });
  const port = opts.port ?? (await freePort());
  let child: ChildProcess | undefined;
  let log = '';

  const tlsSettings = certificate ? { ssl: 'on', ssl_cert_file: certificate.cert, ssl_key_file: certificate.key } : {};
  const settings = { listen_addresses: '127.0.0.1', fsync: 'off', full_page_writes: 'off', synchronous_commit: 'off', max_connections: '60', shared_buffers: '16MB', ...tlsSettings, ...opts.settings };
  const pidFile = path.join(data, 'postmaster.pid');
  const pid = (): number | undefined => {
    try {
      const n = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
      return n > 0 && alive(n) ? n : undefined;
    } catch {
      return undefined;
    }
  };

  const start = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port), '-k', dir, ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    const [cmd, argv] = asServerUser(path.join(bin, 'postgres'), args);
    child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const ready = async () => {
      if (child!.exitCode !== null) throw new Error(`PostgreSQL exited at start (${child!.exitCode}):\n${log.slice(-2000)}`);
      const c = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database: 'postgres' });
      try {
        await c.connect();
        return true;
      } catch {
        return false;
      } finally {
        await c.end().catch(() => {});
      }
    };
    await until(ready, 'ready to accept connections', 20_000);
  };

  const stopWith = async (signal: NodeJS.Signals): Promise<void> => {
    const p = pid();
    if (p === undefined) return;
    process.kill(p, signal);
    await until(() => !alive(p), 'exit', 20_000);
    if (child && child.exitCode === null) await new Promise((r) => child!.once('exit', r));
  };

  const server: PostgresServer = {
    port,
    dir,
    ca: certificate?.pem.toString(),
    url: (database = 'postgres') => `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${port}/${database}`,
    async sql(text, params, database = 'postgres') {
      const c = new pg.Client({ host: '127.0.0.1', port, user: PG_USER, password: PG_PASSWORD, database });
      await c.connect();
      try {
        return await c.query(text, params);
      } finally {
        await c.end();
      }
    },
    pid,
    stop: () => stopWith('SIGINT'),
    crash: () => stopWith('SIGQUIT'),
    start,
    async destroy() {
      await stopWith('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await start();
  return server;
}
