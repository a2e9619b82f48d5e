/**
 * Reading request headers and cookies on the request path, and writing the cookies Verge sets.
 * Headers arrive as node:http gives them (lower-case names; a repeated custom header joined with
 * ", "; set-cookie an array). Cookie lookup scans the header in place rather than splitting it,
 * because it runs on every request of a deployment with a sticky cookie or an override.
 */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The header's value (the first, if repeated); undefined when absent or empty. */
export function headerValue(headers: RequestHeaders, name: string): string | undefined {
  const v = headers[name];
  const s = typeof v === 'string' ? v : v?.[0];
  return s ? s : undefined;
}

/** RFC 6265 cookie-name: an HTTP token. */
export const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;

/** The value of the first cookie called `name` in the request's Cookie header(s); undefined when absent or empty. */
export function cookieValue(headers: RequestHeaders, name: string): string | undefined {
  const v = headers.cookie;
  if (typeof v === 'string') return findCookie(v, name);
  if (v === undefined) return undefined;
  for (const line of v) {
    const found = findCookie(line, name);
    if (found !== undefined) return found;
  }
  return undefined;
}

const SPACE = 0x20;
const TAB = 0x09;
const EQUALS = 0x3d;

function findCookie(header: string, name: string): string | undefined {
  let at = 0;
  while (at < header.length) {
    while (header.charCodeAt(at) === SPACE || header.charCodeAt(at) === TAB) at++;
    let end = header.indexOf(';', at);
    if (end === -1) end = header.length;
    if (header.startsWith(name, at) && header.charCodeAt(at + name.length) === EQUALS) {
      const value = header.slice(at + name.length + 1, end).trim();
      return value ? value : undefined;
    }
    at = end + 1;
  }
  return undefined;
}

/**
 * A Set-Cookie value for a cookie only Verge reads: HttpOnly (scripts never see it), SameSite=Lax
 * (not sent on cross-site subrequests), Path=/ (one cookie for the whole host), and Secure when
 * the response goes out over TLS.
 */
export function setCookieHeader(name: string, value: string, opts: { maxAgeSeconds: number; secure: boolean }): string {
  const base = `${name}=${value}; Path=/; Max-Age=${opts.maxAgeSeconds}; HttpOnly; SameSite=Lax`;
  return opts.secure ? base + '; Secure' : base;
}
