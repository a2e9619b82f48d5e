/**
 * A real Redis server for tests: Debian's redis-server, started on a free loopback port in a
 * temp folder (no persistence), stopped by its PID. Tests can kill it, pause it (SIGSTOP: it
 * accepts connections and answers nothing, the slowest server there is), resume it and start it
 * again on the same port. redis-cli, not Verge's client, is what tests use to look inside.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RedisServerOptions {
  /** `requirepass`: clients must AUTH with it. */
  password?: string;
  /** Serve TLS (rediss) with this certificate and key instead of plain TCP. */
  tls?: { cert: string; key: string };
}

export interface RedisServer {
  readonly port: number;
  readonly pid: number;
  /** `redis://127.0.0.1:PORT` (or rediss://localhost:PORT), without the password. */
  readonly url: string;
  /** redis-cli against this server; resolves with its stdout (trimmed). */
  cli(...args: string[]): Promise<string>;
  /** SIGSTOP: connections are accepted and nothing is answered until resume(). */
  pause(): void;
  resume(): void;
  /** SIGKILL, as a crash would; waits for the process to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after kill or stop), waiting until it answers. */
  restart(): Promise<void>;
  /** SIGTERM (SIGCONT first if paused), waits for the exit, removes its folder. */
  stop(): Promise<void>;
}

/** A port the system says is free now (another process could take it first: start() retries). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-redis-'));
  let port = 0;
  let proc: ChildProcess | undefined;
  let paused = false;

  const args = (): string[] => {
    const a = ['--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning', '--logfile', path.join(dir, 'redis.log')];
    if (options.tls) a.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key, '--tls-auth-clients', 'no');
    else a.push('--port', String(port));
    if (options.password) a.push('--requirepass', options.password);
    return a;
  };

  const cliArgs = (): string[] => {
    const a = ['-h', '127.0.0.1', '-p', String(port)];
    if (options.tls) a.push('--tls', '--cacert', options.tls.cert, '--sni', 'localhost');
    if (options.password) a.push('--no-auth-warning', '-a', options.password);
    return a;
  };

  const cli = async (...command: string[]): Promise<string> => {
    const { stdout } = await run('redis-cli', [...cliArgs(), ...command], { timeout: 5000 });
    return stdout.trim();
  };

  const launch = async (): Promise<void> => {
    proc = spawn('redis-server', args(), { stdio: 'ignore' });
    const exited = once(proc, 'exit');
    // Bounded: redis-server answers PING within milliseconds of binding its port.
    const until = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode} (port ${port} taken?)`);
      try {
        if ((await cli('PING')) === 'PONG') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > until) {
        proc.kill('SIGKILL');
        await exited;
        throw new Error(`redis-server did not answer PING on port ${port} within 10 s`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }

  const waitExit = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    if (paused && signal !== 'SIGKILL') p.kill('SIGCONT');
    p.kill(signal);
    await exited;
    paused = false;
  };

  return {
    get port() {
      return port;
    },
    get pid() {
      return proc!.pid!;
    },
    url: `${options.tls ? 'rediss://localhost' : 'redis://127.0.0.1'}:${port}`,
    cli,
    pause() {
      proc!.kill('SIGSTOP');
      paused = true;
    },
    resume() {
      proc!.kill('SIGCONT');
      paused = false;
    },
    kill: () => waitExit('SIGKILL'),
    restart: async () => {
      await waitExit('SIGKILL');
      await launch();
    },
    async stop() {
      await waitExit('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
