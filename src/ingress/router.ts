/**
 * Routes: exact paths (`/api/hello`), `:param` segments (`/users/:id`) and a trailing wildcard
 * (`/api/...`, which also matches `/api`). Most specific wins, compared segment by segment from
 * the left: a literal beats a parameter, a parameter beats the wildcard, and a route that ends
 * beats one that goes on with a wildcard.
 */
export type Segment = { kind: 'literal'; value: string } | { kind: 'param'; name: string };

export interface RoutePattern {
  pattern: string;
  segments: Segment[];
  wildcard: boolean;
}

export interface RouteMatch<T> {
  target: T;
  pattern: string;
  params: Array<[string, string]>;
  /** The part of the path the route's fixed segments matched (CGI SCRIPT_NAME). */
  scriptName: string;
  /** The rest (CGI PATH_INFO). */
  pathInfo: string;
}

const PARAM = /^:[A-Za-z_][A-Za-z0-9_]*$/;
const LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,;=:@%]+$/;

/** Parses a route path; returns an error sentence instead when it is not a valid pattern. */
export function parsePattern(pattern: string): RoutePattern | string {
  if (!pattern.startsWith('/')) return 'expected a path starting with "/"';
  let body = pattern;
  let wildcard = false;
  if (body === '/...') {
    body = '/';
    wildcard = true;
  } else if (body.endsWith('/...')) {
    body = body.slice(0, -4);
    wildcard = true;
  }
  const parts = body === '/' ? [] : body.slice(1).split('/');
  const segments: Segment[] = [];
  const names = new Set<string>();
  for (const part of parts) {
    if (part === '...') return 'the wildcard "/..." may only end a path';
    if (part === '') return 'empty path segment ("//" or a trailing "/")';
    if (part.startsWith(':')) {
      if (!PARAM.test(part)) return `parameter ${JSON.stringify(part)} must be ":" followed by letters, digits or "_"`;
      const name = part.slice(1);
      if (names.has(name)) return `parameter :${name} appears twice`;
      names.add(name);
      segments.push({ kind: 'param', name });
    } else {
      if (!LITERAL.test(part)) return `segment ${JSON.stringify(part)} has characters not allowed in a URL path`;
      segments.push({ kind: 'literal', value: part });
    }
  }
  return { pattern, segments, wildcard };
}

/** A key equal for two patterns that would always match the same paths (`/a/:x` and `/a/:y`). */
export function patternShape(p: RoutePattern): string {
  return p.segments.map((s) => (s.kind === 'literal' ? `L${s.value}` : 'P')).join('/') + (p.wildcard ? '/*' : '');
}

/** Negative when `a` is more specific than `b`. */
function compareSpecificity(a: RoutePattern, b: RoutePattern): number {
  const n = Math.max(a.segments.length, b.segments.length);
  // <= n: the position past the last segment is where an ending route beats a wildcard.
  for (let i = 0; i <= n; i++) {
    const ra = rank(a, i);
    const rb = rank(b, i);
    if (ra !== rb) return rb - ra;
  }
  return 0;
}

/** literal 3, param 2, end of an exact route 1.5 (it only matches if the path ends), wildcard 1. */
function rank(p: RoutePattern, i: number): number {
  const s = p.segments[i];
  if (s) return s.kind === 'literal' ? 3 : 2;
  return p.wildcard ? 1 : 1.5;
}

export class Router<T> {
  private readonly routes: Array<RoutePattern & { target: T }> = [];

  add(pattern: RoutePattern, target: T): void {
    this.routes.push({ ...pattern, target });
    this.routes.sort(compareSpecificity);
  }

  get patterns(): readonly RoutePattern[] {
    return this.routes;
  }

  /** `path` is the raw request path (no query). Parameters are percent-decoded; a bad escape throws URIError. */
  match(path: string): RouteMatch<T> | undefined {
    const parts = path === '/' || path === '' ? [] : path.slice(1).split('/');
    for (const route of this.routes) {
      const m = matchRoute(route, parts);
      if (m) return { target: route.target, pattern: route.pattern, ...m };
    }
    return undefined;
  }
}

function matchRoute(route: RoutePattern, parts: string[]): Omit<RouteMatch<never>, 'target' | 'pattern'> | undefined {
  const { segments } = route;
  if (parts.length < segments.length) return undefined;
  if (!route.wildcard && parts.length !== segments.length) return undefined;
  let params: Array<[string, string]> | undefined;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const part = parts[i]!;
    if (seg.kind === 'literal') {
      if (seg.value !== part) return undefined;
    } else {
      if (part === '') return undefined;
      (params ??= []).push([seg.name, decodeURIComponent(part)]);
    }
  }
  const scriptName = segments.length === 0 ? '' : '/' + parts.slice(0, segments.length).join('/');
  const rest = parts.slice(segments.length);
  return { params: params ?? [], scriptName, pathInfo: rest.length ? '/' + rest.join('/') : '' };
}
