/**
 * `verge up --cluster …` validated once at start: the NATS address (credentials from the URL, a
 * `.creds` file or VERGE_CLUSTER_CREDENTIALS, never shown), the node's id and region, and the
 * heartbeat. The node id defaults to one made once and kept under the data dir, so a restarted
 * node is the same node.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { VergeError } from '../errors.js';
import { parseNatsAddress, type NatsAddress } from '../backends/nats/address.js';
import { CLUSTER_DEFAULTS, NODE_ID, PRUNE_AFTER_MS } from './record.js';

/** `user:password`, or a token: for a --cluster URL that carries no credentials of its own. */
export const CREDENTIALS_ENV = 'VERGE_CLUSTER_CREDENTIALS';

export interface ClusterFlags {
  urls: string;
  nodeId?: string | undefined;
  region?: string | undefined;
  credsFile?: string | undefined;
  replicas?: number | undefined;
  heartbeatMs?: number | undefined;
}

export interface ClusterConfig {
  readonly address: NatsAddress;
  /** The contents of a NATS `.creds` file (JWT and NKey seed). */
  readonly creds: Uint8Array | undefined;
  readonly nodeId: string;
  readonly region: string | undefined;
  readonly bucket: string;
  readonly replicas: number;
  readonly heartbeatMs: number;
  /** Records older than this are purged (PRUNE_AFTER_MS; no flag: tests shorten it). */
  readonly pruneAfterMs: number;
}

function invalid(message: string): VergeError {
  return new VergeError('CLUSTER_CONFIG_INVALID', message);
}

/** The --cluster URL with VERGE_CLUSTER_CREDENTIALS put in, when the URL has none. */
function withEnvCredentials(urls: string, env: NodeJS.ProcessEnv): string {
  const credentials = env[CREDENTIALS_ENV];
  if (!credentials || urls.includes('@')) return urls;
  const [user, ...rest] = credentials.split(':');
  const userinfo = rest.length === 0 ? encodeURIComponent(user!) : `${encodeURIComponent(user!)}:${encodeURIComponent(rest.join(':'))}`;
  return urls
    .split(',')
    .map((u) => u.trim().replace(/^(nats|tls):\/\//, `$1://${userinfo}@`))
    .join(',');
}

/** A stable id under `stateDir`: read, or made once (`node-` and 12 hex digits). */
export async function persistedNodeId(stateDir: string): Promise<string> {
  const file = path.join(stateDir, 'node-id');
  try {
    const id = (await fs.readFile(file, 'utf8')).trim();
    if (NODE_ID.test(id)) return id;
    throw invalid(`${file} holds ${JSON.stringify(id.slice(0, 80))}, which is not a node id (letters, digits, "-" and "_", at most 64): delete it to make a new one, or pass --node-id`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fs.mkdir(stateDir, { recursive: true });
  const id = `node-${randomBytes(6).toString('hex')}`;
  await fs.writeFile(file, id + '\n');
  return id;
}

export async function clusterConfig(flags: ClusterFlags, stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<ClusterConfig> {
  const address = parseNatsAddress(withEnvCredentials(flags.urls, env));
  if (typeof address === 'string') throw invalid(`--cluster: expected ${address}`);
  if (flags.nodeId !== undefined && !NODE_ID.test(flags.nodeId)) throw invalid(`--node-id ${JSON.stringify(flags.nodeId)}: expected letters, digits, "-" and "_", at most 64`);
  if (flags.region !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(flags.region)) throw invalid(`--region ${JSON.stringify(flags.region)}: expected letters, digits, ".", "-" and "_", at most 64`);
  let creds: Uint8Array | undefined;
  if (flags.credsFile) {
    try {
      creds = await fs.readFile(flags.credsFile);
    } catch (err) {
      throw invalid(`--cluster-creds-file ${flags.credsFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  return Object.freeze({
    address,
    creds,
    nodeId: flags.nodeId ?? (await persistedNodeId(stateDir)),
    region: flags.region,
    bucket: CLUSTER_DEFAULTS.bucket,
    replicas: flags.replicas ?? CLUSTER_DEFAULTS.replicas,
    heartbeatMs: flags.heartbeatMs ?? CLUSTER_DEFAULTS.heartbeatMs,
    pruneAfterMs: PRUNE_AFTER_MS,
  });
}
