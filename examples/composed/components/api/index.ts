/**
 * api: seed 003's `verify_token(&request)` and `fetch_data(&request)`, combined. Its imports
 * acme:auth/verify and acme:data/records are satisfied by the auth and data components
 * (`[component.api.dependencies]`), linked into each instance: plain function calls, no HTTP.
 *
 *   GET  /api/me        the caller's claims and their newest records
 *   POST /api/records   {"text": "..."} adds a record for the caller (201)
 */
import { verify, type Claims, type Refusal } from 'acme:auth/verify@0.1.0';
import { addRecord, fetchRecords, type Entry } from 'acme:data/records@0.1.0';
import { bearerToken, json, unauthorized } from '../shared/http.js';

const LISTED = 20;
const MAX_BODY_BYTES = 4096;

/** An imported function's error result arrives as a thrown value carrying it as `payload`. */
function payloadOf<T>(e: unknown): T | undefined {
  return typeof e === 'object' && e !== null && 'payload' in e ? (e as { payload: T }).payload : undefined;
}

function claimsOf(request: Request): { ok: true; claims: Claims } | { ok: false; response: Response } {
  const token = bearerToken(request.headers);
  if (token === undefined) return { ok: false, response: unauthorized(undefined) };
  try {
    return { ok: true, claims: verify(token) };
  } catch (e) {
    const refusal = payloadOf<Refusal>(e);
    if (refusal === undefined) throw e;
    return { ok: false, response: unauthorized(refusal) };
  }
}

/** The claims as the API shows them: the payload parsed, the times as numbers. */
const shown = (c: Claims) => ({ subject: c.subject, algorithm: c.algorithm, issuedAt: c.issuedAt ?? null, expiresAt: c.expiresAt, scopes: c.scopes, payload: JSON.parse(c.payload) as unknown });

function storeFailed(e: unknown): Response {
  const reason = payloadOf<string>(e);
  if (reason === undefined) throw e;
  return json(reason.startsWith('store ') ? 503 : 422, { error: reason.startsWith('store ') ? 'STORE_UNAVAILABLE' : 'INVALID_RECORD', message: reason });
}

async function handle(request: Request): Promise<Response> {
  const path = new URL(request.url).pathname;
  const route = path === '/api/me' ? 'me' : path === '/api/records' ? 'records' : undefined;
  if (route === undefined) return json(404, { error: 'NOT_FOUND', message: `no ${path}: try GET /api/me or POST /api/records` });
  const allowed = route === 'me' ? 'GET' : 'POST';
  if (request.method !== allowed) return json(405, { error: 'METHOD_NOT_ALLOWED', message: `${path} takes ${allowed}` }, { allow: allowed });

  const who = claimsOf(request);
  if (!who.ok) return who.response;
  const { claims } = who;

  if (route === 'me') {
    let records: Entry[];
    try {
      records = fetchRecords(claims.subject, LISTED);
    } catch (e) {
      return storeFailed(e);
    }
    return json(200, { claims: shown(claims), records });
  }

  const body = await request.text();
  if (body.length > MAX_BODY_BYTES) return json(413, { error: 'PAYLOAD_TOO_LARGE', message: `at most ${MAX_BODY_BYTES} bytes` });
  let text: unknown;
  try {
    text = (JSON.parse(body) as { text?: unknown }).text;
  } catch {
    text = undefined;
  }
  if (typeof text !== 'string') return json(400, { error: 'BAD_REQUEST', message: 'expected a JSON body {"text": "..."}' });
  try {
    return json(201, { record: addRecord(claims.subject, text) });
  } catch (e) {
    return storeFailed(e);
  }
}

addEventListener('fetch', (event) => event.respondWith(handle(event.request)));
