/**
 * What building a WAGI request's environment costs the worker (sandbox/wagi/cgi.ts's
 * writeCgiEnvironment into wasi-p1.ts's CStringListBuilder, as the runner does before every
 * run), for two requests: wrk's (a Host header) and a browser's (ten headers, a cookie, a query,
 * a route parameter). One thread, no guest: the figure is small and steady enough to compare trees.
 *
 *   node dist/bench/lib/cgi-environment.js [VERGE_ROOT ...]   (default: this tree; each root's
 *   built dist/ is imported, so a checkout of the commit before a change can stand beside this one)
 *
 * Rounds alternate between the roots; each round times BATCH environments, the median round is reported.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GuestRequest } from '../../src/dispatch/protocol.js';
import { median, table } from './report.js';
import { intEnv } from './proc.js';
import { guestRequest } from '../../test/support/guest-request.js';

const HERE = fileURLToPath(new URL('../../../', import.meta.url));
const ROUNDS = intEnv('CGI_ENV_ROUNDS', 9);
const BATCH = intEnv('CGI_ENV_BATCH', 50_000);

interface Tree {
  label: string;
  build(req: GuestRequest): void;
}

/** A GET /api/hello as the ingress hands it to the pool from wrk: a Host header, no body. */
const base: GuestRequest = {
  ...guestRequest('0b8f3c9e-7d1a-4f7e-9a51-2d2b6f1c0a11', 'hello', 'hello@0123456789abcdef#1'),
  url: '/api/hello',
  rawHeaders: ['Host', '127.0.0.1:8080'],
  serverName: '127.0.0.1',
  route: '/api/hello',
  scriptName: '/api/hello',
};

const REQUESTS: Array<[string, GuestRequest]> = [
  ['wrk: GET /api/hello, Host only', base],
  [
    'browser: 10 headers, query, parameter',
    {
      ...base,
      url: '/api/users/42?fields=name,email',
      route: '/api/users/:id',
      scriptName: '/api/users/42',
      rawHeaders: [
        'Host', 'example.com',
        'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
        'Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
        'Accept-Language', 'en-GB,en;q=0.9',
        'Accept-Encoding', 'gzip, deflate, br',
        'Cookie', 'session=abc123; theme=dark',
        'Referer', 'https://example.com/',
        'Sec-Fetch-Mode', 'navigate',
        'Connection', 'keep-alive',
        'traceparent', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      ],
      params: [['id', '42']],
    },
  ],
];

async function loadTree(root: string): Promise<Tree> {
  const dist = path.join(root, 'dist', 'src', 'sandbox', 'wagi');
  const cgi = (await import(pathToFileURL(path.join(dist, 'cgi.js')).href)) as typeof import('../../src/sandbox/wagi/cgi.js');
  const wasi = (await import(pathToFileURL(path.join(dist, 'wasi-p1.js')).href)) as typeof import('../../src/sandbox/wagi/wasi-p1.js');
  const env = new wasi.CStringListBuilder();
  const set = (name: string, value: string) => void env.addPair(name, value);
  return {
    label: root === HERE.replace(/\/$/, '') ? 'this tree' : root,
    build: (req) => {
      env.reset();
      cgi.writeCgiEnvironment(req, set);
    },
  };
}

async function main(): Promise<void> {
  const roots = process.argv.length > 2 ? process.argv.slice(2).map((r) => path.resolve(r)) : [HERE.replace(/\/$/, '')];
  const trees = await Promise.all(roots.map(loadTree));
  const rows: string[][] = [];
  for (const [name, req] of REQUESTS) {
    const samples = trees.map(() => [] as number[]);
    for (let round = 0; round < ROUNDS; round++) {
      trees.forEach((tree, i) => {
        const started = process.hrtime.bigint();
        for (let n = 0; n < BATCH; n++) tree.build(req);
        samples[i]!.push(Number(process.hrtime.bigint() - started) / BATCH / 1e3);
      });
    }
    trees.forEach((tree, i) => {
      const list = samples[i]!;
      rows.push([name, tree.label, median(list).toFixed(2), `${Math.min(...list).toFixed(2)}–${Math.max(...list).toFixed(2)}`]);
    });
  }
  process.stdout.write(`${table(['request', 'tree', 'µs per environment (median round)', 'rounds'], rows, ['l', 'l', 'r', 'r'])}\n`);
}

await main();
