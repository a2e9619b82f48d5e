/**
 * The first job of an outbound call: the guest's request checked for shape (method, absolute
 * http(s) URL without user info, header names and values, headers the guest may not set, body
 * size) before anything touches the network.
 */
import { OutboundError } from './errors.js';
import type { OutboundLimits } from './limits.js';
import { bytes, quote, show } from './text.js';

export interface OutboundRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array;
}

/**
 * Headers the guest may not set: Verge frames the message itself (host, content-length,
 * transfer-encoding, connection and its friends), and the rest would change how the connection
 * behaves (upgrade, expect, proxy-*). Refused with INVALID_ARGUMENT rather than dropped, so a guest
 * learns at once that its header did not go out.
 */
export const FORBIDDEN_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'keep-alive',
  'expect',
  'http2-settings',
]);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** C0 controls (tab included: the URL parser drops tabs and newlines silently) and DEL. */
const URL_CONTROL = /[\x00-\x1f\x7f]/;
/** Controls a header value may not carry; tab is allowed. */
const VALUE_CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const NORMALISED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH']);
const REFUSED_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);

export interface ValidRequest {
  method: string;
  url: URL;
  /** Header values are binary strings (one char per byte) of the guest's UTF-8. */
  headers: Array<[string, string]>;
  body: Uint8Array | undefined;
}

export function validateRequest(req: OutboundRequest, limits: OutboundLimits): ValidRequest {
  const invalid = (message: string): OutboundError => new OutboundError('INVALID_ARGUMENT', message);
  if (typeof req.method !== 'string' || !TOKEN.test(req.method)) {
    throw invalid(`method ${quote(req.method)} is not an HTTP method (a token, no spaces or control characters)`);
  }
  let method = req.method;
  if (NORMALISED_METHODS.has(method.toUpperCase())) method = method.toUpperCase();
  if (REFUSED_METHODS.has(method.toUpperCase())) throw invalid(`method ${method} is not allowed for outbound requests`);

  if (typeof req.url !== 'string') throw invalid('the URL must be a string');
  if (URL_CONTROL.test(req.url)) throw invalid(`URL ${quote(req.url)} contains a control character (CR, LF, NUL, tab, ...)`);
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw invalid(`URL ${quote(req.url)} is not an absolute http:// or https:// URL (relative URLs are not resolved)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`URL ${quote(req.url)} is not an absolute http:// or https:// URL`);
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(`URL ${show(url)} carries user info; send credentials in an authorization header`);
  }
  url.hash = '';

  const headers: Array<[string, string]> = [];
  for (const pair of req.headers) {
    const [name, value] = pair;
    if (typeof name !== 'string' || !TOKEN.test(name)) {
      throw invalid(`header name ${quote(name)} is not an HTTP token (no spaces, colons or control characters)`);
    }
    const lower = name.toLowerCase();
    if (typeof value !== 'string' || VALUE_CONTROL.test(value)) {
      throw invalid(`header ${lower} has a control character (CR, LF, NUL, ...) in its value`);
    }
    if (FORBIDDEN_REQUEST_HEADERS.has(lower) || lower.startsWith('proxy-')) {
      throw invalid(`header ${lower} may not be set by the guest (Verge sets host, content-length and the connection headers itself)`);
    }
    headers.push([lower, Buffer.from(value.replace(/^[ \t]+|[ \t]+$/g, ''), 'utf8').toString('latin1')]);
  }

  if (req.body.byteLength > limits.maxRequestBodyBytes) {
    throw new OutboundError(
      'LIMIT_EXCEEDED',
      `request body to ${show(url)} is ${req.body.byteLength} bytes, over the limit of ${bytes(limits.maxRequestBodyBytes)} (maxRequestBodyBytes)`,
    );
  }
  return { method, url, headers, body: req.body.byteLength > 0 ? Buffer.from(req.body) : undefined };
}

