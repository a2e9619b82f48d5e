/** `GET /v1/cluster`: this node's view of the cluster (membership.ts), or that clustering is off. */
import type { AdminRoute } from '../admin/api.js';
import type { ClusterMember } from './membership.js';

/** `member` is undefined without --cluster; it returns the member once the node has joined (before any call can arrive). */
export function clusterRoute(member: (() => ClusterMember | undefined) | undefined): AdminRoute {
  return (req) => {
    if (req.method !== 'GET' || req.parts.length !== 1 || req.parts[0] !== 'cluster') return undefined;
    const joined = member?.();
    if (!joined) return Promise.resolve({ enabled: false, message: 'this node is not in a cluster: start it with verge up --cluster nats://HOST:PORT (docs/cluster.md)' });
    return joined.status();
  };
}
