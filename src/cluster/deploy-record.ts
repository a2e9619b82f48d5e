/**
 * What the cluster holds about deploys (docs/cluster.md, "Deploys"), as plain data:
 *
 * - the deployments bucket (JetStream KV, one key per app) holds each app's current deployment,
 *   a `ClusterDeployment` as JSON, written with compare-and-swap on the key's revision;
 * - the bundle store (JetStream object store) holds each version's bundle under its id, chunked.
 *
 * A node converges from this state, never from a sequence of events: whatever it missed, it reads
 * each key's current value and serves that (deploys.ts). Parsing is strict: a record this node
 * cannot read is refused and reported, never half-applied.
 */
export const DEPLOY_BUCKETS = Object.freeze({
  deployments: 'verge_cluster_deployments',
  bundles: 'verge_cluster_bundles',
});

/** Object store chunks: well under NATS's default 1 MB payload, so a bundle streams in pieces. */
export const BUNDLE_CHUNK_BYTES = 128 * 1024;

/** An app's deployment as the cluster holds it. */
export interface ClusterDeployment {
  /** Made by the writing node for each write; what nodes compare to know whether they serve it. */
  id: string;
  app: string;
  versions: Array<{ id: string; weight: number }>;
  /** The deploy request's sticky and auto-rollback settings, as given. */
  policy: Record<string, unknown>;
  /** The admin token's fingerprint (or 'local') on the node that took the request. */
  by: string;
  reason: 'deploy' | 'rollback';
  /** The node whose admin API took the request. */
  origin: string;
  /** The writing node's clock; readers use the server's timestamp for lag. */
  at: string;
}

/** Where this node stands with one app's cluster deployment, for GET /v1/cluster. */
export interface DeploymentView {
  app: string;
  /** The cluster's current deployment of the app and its KV revision. */
  cluster: (ClusterDeployment & { revision: number }) | null;
  state: 'serving' | 'pending' | 'refused';
  /** The cluster deployment this node applied last (undefined before any). */
  applied: string | null;
  code: string | null;
  message: string | null;
  /**
   * Pending: how long it has waited here; serving: how long it took to be served here. Both from
   * the later of the cluster storing it and this node (re)connecting; null while not connected.
   */
  lag_ms: number | null;
}

const DEPLOYMENT_ID = /^[A-Za-z0-9_-]{1,80}$/;
const FULL_VERSION_ID = /^[0-9a-f]{64}$/;
const MAX_WEIGHT = 1_000_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The record, or a sentence saying what is wrong with it (for a DEPLOYMENT_INVALID refusal). */
export function parseClusterDeployment(bytes: Uint8Array, app: string): ClusterDeployment | string {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return `the cluster's deployment record of app ${app} is not JSON`;
  }
  const bad = (what: string) => `the cluster's deployment record of app ${app}: ${what}`;
  if (!isObject(raw)) return bad('expected a JSON object');
  if (typeof raw.id !== 'string' || !DEPLOYMENT_ID.test(raw.id)) return bad('id: expected a deployment id');
  if (raw.app !== app) return bad(`app: expected ${JSON.stringify(app)} (the key it is stored under), got ${JSON.stringify(raw.app)}`);
  if (!Array.isArray(raw.versions) || raw.versions.length === 0) return bad('versions: expected a non-empty array');
  const versions: Array<{ id: string; weight: number }> = [];
  for (const [i, v] of raw.versions.entries()) {
    if (!isObject(v) || typeof v.id !== 'string' || !FULL_VERSION_ID.test(v.id)) return bad(`versions[${i}].id: expected a full version id (64 hex characters)`);
    if (typeof v.weight !== 'number' || !Number.isInteger(v.weight) || v.weight < 0 || v.weight > MAX_WEIGHT) return bad(`versions[${i}].weight: expected an integer from 0 to ${MAX_WEIGHT}`);
    if (versions.some((w) => w.id === v.id)) return bad(`versions[${i}]: version ${v.id.slice(0, 12)} is listed twice`);
    versions.push({ id: v.id, weight: v.weight });
  }
  if (!versions.some((v) => v.weight > 0)) return bad('versions: no version has a weight above 0');
  if (!isObject(raw.policy)) return bad('policy: expected an object');
  if (raw.reason !== 'deploy' && raw.reason !== 'rollback') return bad('reason: expected "deploy" or "rollback"');
  for (const key of ['by', 'origin', 'at'] as const) {
    if (typeof raw[key] !== 'string') return bad(`${key}: expected a string`);
  }
  return { id: raw.id, app, versions, policy: raw.policy, by: raw.by as string, reason: raw.reason, origin: raw.origin as string, at: raw.at as string };
}

/**
 * A node's replication lag, over its apps: the longest time a deployment the cluster holds has
 * waited here unserved; when every one is served, the longest any took to be served. Refused
 * deployments are not lag (the node will not serve them; status says why). Null before any.
 */
export function replicationLag(views: readonly DeploymentView[]): number | null {
  const pending = views.filter((v) => v.state === 'pending' && v.lag_ms !== null).map((v) => v.lag_ms!);
  if (pending.length > 0) return Math.max(...pending);
  const served = views.filter((v) => v.state === 'serving' && v.lag_ms !== null).map((v) => v.lag_ms!);
  return served.length > 0 ? Math.max(...served) : null;
}
