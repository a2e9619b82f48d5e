/**
 * Host and path → an app's route, across every app a node serves. Apps bound to host names are
 * tried before apps that answer any host: first an exact host, then wildcards from the longest
 * suffix down, then the apps without `hosts`. Within that order the first level holding a route
 * for the path wins, and inside a level the most specific path wins (router.ts).
 *
 * Two apps may both route one path only if they never answer the same host at the same level:
 * the same route shape under the same host pattern (or in two apps without hosts) is a conflict,
 * reported with both apps and the route.
 */
import { hostPatternKey, type HostPattern } from '../manifest/hosts.js';
import { Router, patternShape, type RouteMatch, type RoutePattern } from './router.js';

export interface AppRoutes<T> {
  app: string;
  hosts: readonly HostPattern[];
  routes: ReadonlyArray<{ pattern: RoutePattern; target: T }>;
}

export interface RouteConflict {
  host: string | undefined;
  route: string;
  apps: [string, string];
}

interface Level<T> {
  router: Router<T>;
  /** Route shape → the app and path that claimed it. */
  claimed: Map<string, { app: string; path: string }>;
}

export class RoutingTable<T> {
  private readonly exact = new Map<string, Level<T>>();
  /** Longest suffix first. */
  private readonly suffixes: Array<{ suffix: string; level: Level<T> }> = [];
  private readonly any: Level<T> = newLevel();

  private constructor() {}

  static empty<T>(): RoutingTable<T> {
    return new RoutingTable<T>();
  }

  /** A table over `apps`, or the conflicts that prevent one. */
  static build<T>(apps: Iterable<AppRoutes<T>>): { table: RoutingTable<T> } | { conflicts: RouteConflict[] } {
    const table = new RoutingTable<T>();
    const conflicts: RouteConflict[] = [];
    for (const app of apps) {
      const levels: Array<[string | undefined, Level<T>]> =
        app.hosts.length === 0 ? [[undefined, table.any]] : app.hosts.map((h) => [hostPatternKey(h), table.levelFor(h)]);
      for (const [host, level] of levels) {
        for (const r of app.routes) {
          const shape = patternShape(r.pattern);
          const prior = level.claimed.get(shape);
          if (prior && prior.app !== app.app) {
            conflicts.push({ host, route: r.pattern.pattern, apps: [prior.app, app.app] });
            continue;
          }
          level.claimed.set(shape, { app: app.app, path: r.pattern.pattern });
          level.router.add(r.pattern, r.target);
        }
      }
    }
    table.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    return conflicts.length > 0 ? { conflicts } : { table };
  }

  private levelFor(h: HostPattern): Level<T> {
    if (h.kind === 'exact') {
      let level = this.exact.get(h.host);
      if (!level) this.exact.set(h.host, (level = newLevel()));
      return level;
    }
    let entry = this.suffixes.find((s) => s.suffix === h.suffix);
    if (!entry) this.suffixes.push((entry = { suffix: h.suffix, level: newLevel() }));
    return entry.level;
  }

  /** `host`: the Host header's name (lower case, no port), if any. Throws URIError on a bad escape in a parameter. */
  match(host: string | undefined, path: string): RouteMatch<T> | undefined {
    if (host !== undefined) {
      const exact = this.exact.get(host)?.router.match(path);
      if (exact) return exact;
      for (const { suffix, level } of this.suffixes) {
        if (!host.endsWith(suffix)) continue;
        const m = level.router.match(path);
        if (m) return m;
      }
    }
    return this.any.router.match(path);
  }

}

function newLevel<T>(): Level<T> {
  return { router: new Router<T>(), claimed: new Map() };
}

/** One line per conflict, naming both apps and the route. */
export function describeConflicts(conflicts: RouteConflict[]): string {
  return conflicts
    .map(
      (c) =>
        `app ${c.apps[1]}: route ${JSON.stringify(c.route)} is already served by app ${c.apps[0]} ${c.host ? `for host ${c.host}` : '(both apps answer every host)'}; ` +
        'give the apps disjoint [application] hosts, or different paths',
    )
    .join('\n');
}
