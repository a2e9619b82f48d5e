/**
 * `verge cluster status`: a node's view of its cluster (GET /v1/cluster), one node a line.
 * `formatClusterStatus` is pure, for tests; exit codes: admin-client.ts EXIT.
 */
import { call, type AdminTarget } from './admin-client.js';
import type { ClusterStatus } from '../cluster/membership.js';

export type ClusterAnswer = ClusterStatus | { enabled: false; message: string };

function age(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s ago`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s ago`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min ago`;
  return `${Math.round(ms / 3_600_000)} h ago`;
}

export function formatClusterStatus(answer: ClusterAnswer): string[] {
  if (!answer.enabled) return [`clustering is off: ${answer.message}`];
  const lines = [
    `this node: ${answer.node_id}${answer.region ? ` (region ${answer.region})` : ''}, cluster ${answer.servers}: ` +
      (answer.connected ? 'connected' : `NOT CONNECTED (${answer.last_error ?? 'unknown'}); serving locally and retrying`),
  ];
  if (!answer.connected) return lines;
  // Connected, but the listing failed (a NATS server changing leaders, say): say so rather than show no node.
  if (answer.last_error) return [...lines, `the nodes cannot be listed now: ${answer.last_error}`];
  lines.push(`nodes (gone after ${answer.gone_after_ms / 1000} s without a heartbeat; records pruned after ${answer.prune_after_ms / 60_000} min):`);
  const versions = (vs: ReadonlyArray<{ id: string; weight: number }>) => vs.map((v) => `${v.id.slice(0, 12)}@${v.weight}`).join('+');
  for (const n of answer.nodes) {
    const serves = Object.entries(n.serves).map(([app, vs]) => `${app} ${versions(vs)}`);
    lines.push(
      `  ${n.id}${n.id === answer.node_id ? ' (this node)' : ''}  region ${n.region ?? '-'}  ${n.state}  last seen ${age(n.age_ms)}  ` +
        `serves ${serves.length > 0 ? serves.join(', ') : 'nothing'}  replication lag ${n.replication_lag_ms === null ? 'n/a' : `${n.replication_lag_ms} ms`}  admin ${n.admin_url ?? '-'}`,
    );
    for (const [app, d] of Object.entries(n.deploys ?? {})) {
      const why = d.code ? `: ${d.code}${d.message ? ` ${d.message}` : ''}` : '';
      if (d.state === 'refused') lines.push(`    REFUSES ${app} deployment ${d.deployment}${why}`);
      else if (d.state === 'pending') lines.push(`    ${app} deployment ${d.deployment} not served yet${why}`);
    }
  }
  if (answer.deployments.length === 0) {
    lines.push('cluster deployments: none (no app was deployed through a node of this cluster)');
    return lines;
  }
  lines.push(`cluster deployments (${answer.replication}):`);
  for (const d of answer.deployments) {
    const c = d.cluster;
    const what = c ? `${c.id} ${versions(c.versions)} (${c.reason} through ${c.origin}, ${c.at})` : 'a record this node cannot read';
    const here = d.state === 'serving' ? 'serving' : d.state === 'refused' ? `REFUSED (${d.code}: ${d.message})` : `not served yet${d.message ? ` (${d.message})` : ''}`;
    lines.push(`  ${d.app} ${what}; this node: ${here}`);
  }
  return lines;
}

export async function clusterStatus(target: AdminTarget, print: (line: string) => void): Promise<ClusterAnswer> {
  const { body } = await call<ClusterAnswer>(target, '/v1/cluster');
  for (const line of formatClusterStatus(body)) print(line);
  return body;
}
