/**
 * The override: a tester asks for one version of an app by name, whatever the split says. Two ways
 * to be allowed, and anything else is ignored (the request is served by the split, never refused,
 * so a stray header cannot break a client):
 *
 *  - the header `x-verge-version: <version id or unique prefix>` together with a valid admin token
 *    in `x-verge-admin-token` (checked by the caller's constant-time function);
 *  - a signed cookie `verge-override=<version>.<expiry>.<mac>` issued by the admin API: it selects
 *    the version it names, with no header needed (a browser cannot add one), until it expires. The
 *    MAC is HMAC-SHA256 under the node's secret over the app, the version and the expiry, so a
 *    cookie for one app or version cannot be edited into another.
 *
 * The header, when allowed, wins over the cookie. A version must be one the app has loaded; a
 * version of weight 0 is the usual target (a canary before it takes traffic).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cookieValue, headerValue, setCookieHeader, type RequestHeaders } from './http.js';
import { VERSION_ID } from './split.js';

export const OVERRIDE_HEADER = 'x-verge-version';
export const ADMIN_TOKEN_HEADER = 'x-verge-admin-token';
export const OVERRIDE_COOKIE = 'verge-override';

export const OVERRIDE_LIMITS = {
  /** Bytes of node secret the MAC needs (HMAC-SHA256's own block of strength). */
  minSecretBytes: 32,
  /** The longest an override cookie may live: long enough for a day of testing, short enough to forget. */
  maxTtlSeconds: 7 * 24 * 60 * 60,
} as const;

const MAC_BYTES = 32;
const EXPIRY = /^[0-9]{1,12}$/;

export interface OverrideOptions {
  /** The node's secret for override cookies; at least 32 random bytes, kept across restarts so issued cookies stay valid. */
  secret: Uint8Array;
  /** Whether a token is the admin token; must compare in constant time. */
  checkAdminToken: (token: string) => boolean;
  /** Wall-clock milliseconds, for cookie expiry. */
  now?: () => number;
}

export interface IssuedOverride {
  /** The cookie value, `<version>.<expiry>.<mac>`. */
  value: string;
  setCookie: string;
  /** Unix seconds. */
  expiresAt: number;
}

export interface Override {
  /**
   * The version this request may and does ask for: a member of `versions` (the app's loaded
   * version ids), or undefined when it asks for none, is not allowed to, or names no single one.
   */
  select(app: string, headers: RequestHeaders, versions: readonly string[]): string | undefined;
  /** A signed cookie selecting `version` of `app` for `ttlSeconds`. Throws RangeError on a bad version or ttl. */
  issueCookie(app: string, version: string, ttlSeconds: number, opts: { secure: boolean }): IssuedOverride;
  /** The version a cookie value selects for `app`, or undefined if it is malformed, forged, for another app or expired. */
  verifyCookie(app: string, value: string): string | undefined;
}

export function createOverride(opts: OverrideOptions): Override {
  if (opts.secret.byteLength < OVERRIDE_LIMITS.minSecretBytes) {
    throw new RangeError(`override secret: expected at least ${OVERRIDE_LIMITS.minSecretBytes} bytes, got ${opts.secret.byteLength}`);
  }
  const secret = Buffer.from(opts.secret);
  const now = opts.now ?? Date.now;
  // App names and version ids cannot hold a NUL, so the fields cannot be shifted into each other.
  const mac = (app: string, version: string, expiry: string) => createHmac('sha256', secret).update(`${OVERRIDE_COOKIE}\0${app}\0${version}\0${expiry}`).digest();

  const verifyCookie = (app: string, value: string): string | undefined => {
    const macAt = value.lastIndexOf('.');
    const expiryAt = value.lastIndexOf('.', macAt - 1);
    if (expiryAt <= 0) return undefined;
    const version = value.slice(0, expiryAt);
    const expiry = value.slice(expiryAt + 1, macAt);
    if (!VERSION_ID.test(version) || !EXPIRY.test(expiry)) return undefined;
    const macText = value.slice(macAt + 1);
    const given = Buffer.from(macText, 'base64url');
    // The decoder skips stray characters and ignores a last character's spare bits: only the
    // canonical spelling counts, so a cookie has one valid form.
    if (given.length !== MAC_BYTES || given.toString('base64url') !== macText) return undefined;
    if (!timingSafeEqual(given, mac(app, version, expiry))) return undefined;
    return Number(expiry) * 1000 > now() ? version : undefined;
  };

  return {
    select(app, headers, versions) {
      const asked = headerValue(headers, OVERRIDE_HEADER);
      if (asked !== undefined) {
        const token = headerValue(headers, ADMIN_TOKEN_HEADER);
        if (token !== undefined && opts.checkAdminToken(token)) return resolveVersion(asked, versions);
      }
      const cookie = cookieValue(headers, OVERRIDE_COOKIE);
      if (cookie === undefined) return undefined;
      const version = verifyCookie(app, cookie);
      return version !== undefined && versions.includes(version) ? version : undefined;
    },

    issueCookie(app, version, ttlSeconds, cookieOpts) {
      if (!VERSION_ID.test(version)) throw new RangeError(`override cookie: expected a version id (1 to 128 letters, digits, "-" or "_"), got ${JSON.stringify(version)}`);
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > OVERRIDE_LIMITS.maxTtlSeconds) {
        throw new RangeError(`override cookie: expected a lifetime from 1 to ${OVERRIDE_LIMITS.maxTtlSeconds} seconds, got ${ttlSeconds}`);
      }
      const expiresAt = Math.floor(now() / 1000) + ttlSeconds;
      const expiry = String(expiresAt);
      const value = `${version}.${expiry}.${mac(app, version, expiry).toString('base64url')}`;
      return { value, expiresAt, setCookie: setCookieHeader(OVERRIDE_COOKIE, value, { maxAgeSeconds: ttlSeconds, secure: cookieOpts.secure }) };
    },

    verifyCookie,
  };
}

/** The one version `asked` names: an exact id, or else the only id it begins. */
export function resolveVersion(asked: string, versions: readonly string[]): string | undefined {
  if (versions.includes(asked)) return asked;
  let found: string | undefined;
  for (const v of versions) {
    if (!v.startsWith(asked)) continue;
    if (found !== undefined) return undefined;
    found = v;
  }
  return found;
}
