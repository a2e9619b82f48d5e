/**
 * Redirects, followed by Verge (undici follows none): where the next hop goes (resolved against
 * the hop that answered, never the inbound request), and what of the request carries over.
 */
import { OutboundError } from './errors.js';
import { quote, show } from './text.js';
import type { ValidRequest } from './validate.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
/** Request headers that describe a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-encoding', 'content-language', 'content-location'];
/** Credentials not sent on to another origin by a redirect. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie'];

/** The request for the next hop when `status` and `location` redirect, or undefined when the response is the answer. */
export function redirectedRequest(hop: ValidRequest, status: number, location: unknown): ValidRequest | undefined {
  if (!REDIRECT_STATUSES.has(status) || typeof location !== 'string' || location === '') return undefined;
  let { method, headers, body } = hop;
  const url = redirectTarget(hop.url, location);
  if ((status === 303 && method !== 'HEAD') || ((status === 301 || status === 302) && method === 'POST')) {
    method = 'GET';
    body = undefined;
    headers = headers.filter(([name]) => !BODY_HEADERS.includes(name));
  }
  if (url.origin !== hop.url.origin) headers = headers.filter(([name]) => !CREDENTIAL_HEADERS.includes(name));
  return { method, url, headers, body };
}

function redirectTarget(current: URL, location: string): URL {
  let next: URL;
  try {
    next = new URL(location, current);
  } catch {
    throw new OutboundError('NETWORK', `${show(current)} redirected to ${quote(location)}, which is not a URL`);
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new OutboundError('NETWORK', `${show(current)} redirected to ${next.protocol} URL, not http or https`);
  }
  if (next.username !== '' || next.password !== '') {
    throw new OutboundError('NETWORK', `${show(current)} redirected to a URL with user info`);
  }
  next.hash = '';
  return next;
}
