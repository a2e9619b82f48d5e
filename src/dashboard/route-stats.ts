/**
 * Live request rate, 5xx rate and p50/p99 latency per route, over a short sliding window (10 s),
 * for the dashboard. One window (deploy/window.ts) per app, route, component and version that
 * answered a request, plus one for every request the node answered; a window that has emptied is
 * dropped when read, so retired versions do not pile up.
 */
import { SlidingWindow, type Snapshot, type WindowOptions } from '../deploy/window.js';
import type { AnsweredRequest } from '../ingress/server.js';

export const ROUTE_STATS_DEFAULTS = Object.freeze({
  /** Short, so the rate follows the traffic a person watches; the canary status keeps its minute. */
  windowMs: 10_000,
  buckets: 10,
});

export interface RouteKey {
  readonly app: string;
  readonly route: string;
  readonly component: string;
  readonly version: string;
}

export interface RateSnapshot extends Snapshot {
  /** Requests per second over the window. */
  readonly ratePerSecond: number;
}

export interface RouteSnapshot extends RouteKey {
  readonly stats: RateSnapshot;
}

export class RouteStats {
  private readonly windows = new Map<string, { key: RouteKey; window: SlidingWindow }>();
  private readonly all: SlidingWindow;
  private readonly options: WindowOptions & { windowMs: number };

  constructor(opts: WindowOptions = {}) {
    this.options = { ...ROUTE_STATS_DEFAULTS, ...opts };
    this.all = new SlidingWindow(this.options);
  }

  get windowMs(): number {
    return this.options.windowMs;
  }

  record(r: AnsweredRequest): void {
    this.all.record(r.status, r.durationMs);
    // Unrouted requests (404s, malformed ones) count in the node's totals only.
    if (r.app === undefined || r.component === undefined || r.version === undefined) return;
    const id = `${r.app}\n${r.route}\n${r.component}\n${r.version}`;
    let entry = this.windows.get(id);
    if (!entry) {
      entry = { key: { app: r.app, route: r.route, component: r.component, version: r.version }, window: new SlidingWindow(this.options) };
      this.windows.set(id, entry);
    }
    entry.window.record(r.status, r.durationMs);
  }

  /** Every request the node answered, routed or not. */
  totals(): RateSnapshot {
    return this.rate(this.all.snapshot());
  }

  /** Routes that answered requests within the window, by app, route, component, then version. */
  routes(): RouteSnapshot[] {
    const out: RouteSnapshot[] = [];
    for (const [id, { key, window }] of this.windows) {
      const s = window.snapshot();
      if (s.requests === 0) {
        this.windows.delete(id);
        continue;
      }
      out.push({ ...key, stats: this.rate(s) });
    }
    return out.sort((a, b) => compare(a.app, b.app) || compare(a.route, b.route) || compare(a.component, b.component) || compare(a.version, b.version));
  }

  private rate(s: Snapshot): RateSnapshot {
    return { ...s, ratePerSecond: s.requests / (this.options.windowMs / 1000) };
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
