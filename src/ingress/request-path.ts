/**
 * The request target made safe to route. A guest turns PATH_INFO and route parameters into KV
 * keys, file paths and upstream URLs, so what reaches it must stay below the route's prefix
 * however the client spelled the path: dot segments (raw or percent-encoded) are resolved as
 * RFC 3986 §5.2.4 does, and the spellings that would let a later decode or a lenient parser
 * climb out again are refused. docs/manifest.md ("Request paths") documents the rules.
 */
import { VergeError } from '../errors.js';

export interface RequestTarget {
  /** The normalised path: starts with "/", still percent-encoded as received apart from dot segments. */
  path: string;
  /** "?" and the query as received, or "" when there is none. */
  query: string;
  /** The authority of an absolute-form target (RFC 9112 §3.2.2: it replaces the Host header). */
  authority: string | undefined;
}

const ABSOLUTE_FORM = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
/** A whole segment made only of "." and "%2e": after one decode it is "." or ".." */
const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i;
/** "/" and "\" encoded inside a segment: decoded, they would split it into new segments. */
const ENCODED_SEPARATOR = /%(?:2f|5c)/i;

function refuse(target: string, why: string): VergeError {
  return new VergeError('PATH_NOT_ALLOWED', `the request path ${JSON.stringify(target.slice(0, 200))} ${why}`);
}

/** Splits a request target (origin- or absolute-form) and normalises its path; throws VergeError. */
export function parseRequestTarget(target: string): RequestTarget {
  let authority: string | undefined;
  let rest = target;
  if (!target.startsWith('/')) {
    const m = ABSOLUTE_FORM.exec(target);
    if (!m) throw new VergeError('BAD_REQUEST', `the request target ${JSON.stringify(target.slice(0, 200))} is neither a path ("/...") nor an absolute http URL`);
    const scheme = m[1]!.toLowerCase();
    authority = m[2]!;
    if (scheme !== 'http' && scheme !== 'https') throw new VergeError('BAD_REQUEST', `the request target has the scheme ${JSON.stringify(scheme)}; expected http or https`);
    // RFC 9110 §4.2.4: userinfo in an http URI is to be treated as an error.
    if (authority === '' || authority.includes('@')) throw new VergeError('BAD_REQUEST', `the request target ${JSON.stringify(target.slice(0, 200))} has no host, or has user information before it`);
    rest = m[3]!.startsWith('/') ? m[3]! : '/' + m[3]!;
  }
  // A fragment is never part of a request target (RFC 9112 §3.2); some clients send one anyway.
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  const queryAt = rest.indexOf('?');
  const rawPath = queryAt === -1 ? rest : rest.slice(0, queryAt);
  return { path: normalisePath(rawPath, target), query: queryAt === -1 ? '' : rest.slice(queryAt), authority };
}

/**
 * Merges repeated "/" (as nginx does: a filesystem reads "a//b" as "a/b", and a PATH_INFO that
 * starts with "//" is a protocol-relative URL to whoever resolves it), removes "." and resolves
 * ".." segments; a ".." with nothing left to remove is refused rather than dropped.
 */
export function normalisePath(rawPath: string, target = rawPath): string {
  // WHATWG URL parsers and Windows read "\" as a separator, so "..\" would be a way back up.
  if (rawPath.includes('\\')) throw refuse(target, 'contains "\\"; use "/" to separate segments');
  const parts = rawPath.split('/');
  const out: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const segment = parts[i]!;
    const last = i === parts.length - 1;
    if (segment === '' && !last) continue;
    if (ENCODED_SEPARATOR.test(segment)) throw refuse(target, 'has an encoded "/" or "\\" (%2F, %5C) inside a segment');
    if (DOT_SEGMENT.test(segment)) {
      const climbs = segment.length !== 1 && segment.toLowerCase() !== '%2e';
      if (climbs) {
        if (out.length === 0) throw refuse(target, 'climbs above "/" with ".."');
        out.pop();
      }
      // "/a/." and "/a/b/.." name the folder "/a/", so the trailing "/" stays.
      if (last) out.push('');
      continue;
    }
    out.push(segment);
  }
  return '/' + out.join('/');
}
