/** What a page of the dashboard gets from the router (main.ts). */

export interface Route {
  /** The hash's path segments, decoded: `#/kv/shop/default` → ['kv', 'shop', 'default']. */
  path: string[];
  query: URLSearchParams;
}

export interface ViewContext {
  main: HTMLElement;
  route: Route;
  /**
   * Runs `refresh` now and every `ms` while this page is shown and the tab is visible: live
   * numbers without reloading. A failed refresh is reported and tried again at the next tick.
   */
  poll(refresh: () => Promise<void>, ms: number): Promise<void>;
  /** Aborted when the page is left: for what a page keeps open, such as a log stream. */
  signal: AbortSignal;
}

export type View = (ctx: ViewContext) => Promise<void>;

/** A hash route from segments, each encoded: `route('kv', app, store)`. */
export function route(...segments: string[]): string {
  return '/' + segments.map(encodeURIComponent).join('/');
}
