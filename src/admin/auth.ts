/**
 * Who may use the admin listener. One bearer token (VERGE_ADMIN_TOKEN, or --admin-token-file),
 * compared in constant time. A listener off loopback must have one (the node refuses to start
 * without); on loopback, a node without a token leaves the API to local processes, as a
 * development node does. `/metrics` is open only on loopback.
 *
 * Logs name a caller by the token's fingerprint (the first 12 hex characters of its SHA-256),
 * never by the token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { VergeError } from '../errors.js';

export interface AdminAuth {
  /** A token is configured. */
  readonly required: boolean;
  /** The listener is on loopback. */
  readonly loopback: boolean;
  /** The caller's fingerprint when `authorization` carries the token; 'local' when none is configured; undefined when refused. */
  check(authorization: string | undefined): string | undefined;
  /** The token itself, for constant-time checks elsewhere (the version-override header). */
  matches(token: string | undefined): boolean;
}

/** Tokens shorter than this are refused at start: they can be guessed. */
export const MIN_TOKEN_LENGTH = 16;

export function readAdminToken(opts: { env: NodeJS.ProcessEnv; tokenFile?: string | undefined }): string | undefined {
  let token: string | undefined;
  let from: string;
  if (opts.tokenFile) {
    from = `--admin-token-file ${opts.tokenFile}`;
    try {
      token = readFileSync(opts.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new VergeError('ADMIN_TOKEN_INVALID', `${from}: cannot read the token file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  } else {
    from = 'VERGE_ADMIN_TOKEN';
    token = opts.env.VERGE_ADMIN_TOKEN;
    if (token === undefined || token === '') return undefined;
  }
  if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
    throw new VergeError('ADMIN_TOKEN_INVALID', `${from}: the admin token must be at least ${MIN_TOKEN_LENGTH} characters without spaces (for example: openssl rand -hex 32)`);
  }
  return token;
}

/** 127.0.0.0/8, ::1 (also as IPv4-mapped IPv6) and localhost: the addresses no other machine can reach. */
export function isLoopbackHost(host: string): boolean {
  let h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h.startsWith('::ffff:') && isIP(h.slice(7)) === 4) h = h.slice(7);
  if (h === 'localhost') return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  return h === '::1';
}

export function fingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 12);
}

export function createAdminAuth(token: string | undefined, host: string): AdminAuth {
  const loopback = isLoopbackHost(host);
  if (!token && !loopback) {
    throw new VergeError(
      'ADMIN_TOKEN_REQUIRED',
      `--admin ${host}: an admin listener off loopback needs a token; set VERGE_ADMIN_TOKEN or pass --admin-token-file (or listen on 127.0.0.1)`,
    );
  }
  const digest = token ? createHash('sha256').update(token).digest() : undefined;
  const id = token ? fingerprint(token) : 'local';
  const matches = (candidate: string | undefined): boolean => {
    if (!digest || candidate === undefined) return false;
    // Digests have one length, so the comparison takes the same time whatever was sent.
    return timingSafeEqual(createHash('sha256').update(candidate).digest(), digest);
  };
  return {
    required: token !== undefined,
    loopback,
    matches,
    check(authorization) {
      if (!digest) return id;
      const m = /^Bearer +(\S+)\s*$/i.exec(authorization ?? '');
      return m && matches(m[1]) ? id : undefined;
    },
  };
}
