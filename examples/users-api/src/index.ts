/**
 * users-api: a JSON API over a key-value store, as a standard wasi:http/proxy component.
 *
 * Written in the explicit `incomingHandler.handle` form, and kept synchronous, so one instance
 * can serve many requests in turn (`instance_reuse`); nothing about a request outlives it.
 *
 * Keys in the `users` store:
 *   user:<id>                   the user as JSON, with its creation order and email epoch
 *   email:<email>               the id of the user holding that email (the index)
 *   email-epoch:<email>         a counter: how many times the email has been freed
 *   email-claim:<email>:<epoch> a counter: the request that takes it from 0 to 1 owns the email
 *   deleted:<id>                a counter: only the DELETE that takes it to 1 frees the email
 *   seq                         a counter giving every user its creation order
 *
 * Every counter only goes up: ComponentizeJS 0.23 traps on a negative s64 argument
 * (bytecodealliance/ComponentizeJS#343), so `increment(..., -1n)` cannot release a claim.
 * Instead a DELETE opens the next epoch, whose claim counter starts again at 0.
 */
import type { IncomingRequest, ResponseOutparam } from 'wasi:http/types@0.2.10';
import { open, type Bucket } from 'wasi:keyvalue/store@0.2.0-draft2';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft2';
import { log } from 'wasi:logging/logging@0.1.0-draft';
import { decodeUtf8, errorPayload, methodOf, pathOf, readBody, sendEmpty, sendJson } from './http.js';

const STORE = 'users';
const MAX_BODY_BYTES = 64 * 1024;
const MAX_NAME_CHARS = 100;
const MAX_EMAIL_CHARS = 254;
const MAX_EMAIL_LOCAL_CHARS = 64;
const ID_BYTES = 8;

const USER_PREFIX = 'user:';
const ID_PATTERN = /^[0-9a-f]{16}$/;
// A sane local@domain.tld: an unquoted dot-atom local part, DNS labels, a letters-only TLD.
const EMAIL_PATTERN =
  /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface User {
  id: string;
  name: string;
  email: string;
  createdAt: string;
}

/** As stored: `seq` orders users by creation; `emailEpoch` is the claim it holds. Neither is shown. */
interface StoredUser extends User {
  seq: number;
  emailEpoch: string;
}

type Reply = (out: ResponseOutparam) => void;

/** A JSON error answer in the shape Verge itself uses: `{"error": CODE, "message": ..., ...}`. */
function error(status: number, code: string, message: string, extra: Record<string, unknown> = {}, headers: Array<[string, string]> = []): Reply {
  return (out) => sendJson(out, status, { error: code, message, ...extra }, headers);
}

function methodNotAllowed(method: string, allow: string[]): Reply {
  return error(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; allowed: ${allow.join(', ')}`, {}, [['allow', allow.join(', ')]]);
}

/** A host key-value call failed: the store is unavailable (or not granted) — not the client's fault. */
class StoreError extends Error {
  constructor(readonly op: string, readonly payload: unknown) {
    super(`${op}: ${JSON.stringify(payload)}`);
  }
}

function kv<T>(op: string, call: () => T): T {
  try {
    return call();
  } catch (e) {
    throw new StoreError(op, errorPayload(e));
  }
}

export const incomingHandler = {
  handle(request: IncomingRequest, out: ResponseOutparam): void {
    let reply: Reply;
    try {
      reply = route(request);
    } catch (e) {
      reply = failure(e);
    } finally {
      request[Symbol.dispose]();
    }
    reply(out);
  },
};

function failure(e: unknown): Reply {
  if (e instanceof StoreError) {
    log('error', 'users', `key-value ${e.message}`);
    const denied = typeof e.payload === 'object' && e.payload !== null && (e.payload as { tag?: unknown }).tag === 'access-denied';
    return denied
      ? error(500, 'INTERNAL', `the "${STORE}" store is not granted to this component`)
      : error(503, 'UNAVAILABLE', 'the user store is unavailable; try again later');
  }
  log('error', 'users', `unexpected: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  return error(500, 'INTERNAL', 'internal error');
}

function route(request: IncomingRequest): Reply {
  const method = methodOf(request);
  const path = pathOf(request);

  if (path === '/api/health') {
    return method === 'GET' ? (out) => sendJson(out, 200, { status: 'ok' }) : methodNotAllowed(method, ['GET']);
  }
  if (path === '/api/users') {
    if (method === 'GET') return withStore(listUsers);
    if (method === 'POST') {
      const body = readBody(request, MAX_BODY_BYTES);
      if (!body.ok) return error(413, 'PAYLOAD_TOO_LARGE', `the request body is over ${body.limit} bytes`, { limit: body.limit });
      return withStore((bucket) => createUser(bucket, body.bytes));
    }
    return methodNotAllowed(method, ['GET', 'POST']);
  }
  const match = /^\/api\/users\/([^/]+)$/.exec(path);
  if (match) {
    const id = decodeURIComponentSafe(match[1]!);
    if (method !== 'GET' && method !== 'DELETE') return methodNotAllowed(method, ['GET', 'DELETE']);
    if (id === undefined || !ID_PATTERN.test(id)) return notFoundUser(match[1]!);
    return withStore((bucket) => (method === 'GET' ? getUser(bucket, id) : deleteUser(bucket, id)));
  }
  return error(404, 'NOT_FOUND', `no route for ${method} ${path}`);
}

function withStore(action: (bucket: Bucket) => Reply): Reply {
  const bucket = kv('open', () => open(STORE));
  try {
    return action(bucket);
  } finally {
    bucket[Symbol.dispose]();
  }
}

function notFoundUser(id: string): Reply {
  return error(404, 'NOT_FOUND', `no user with id ${JSON.stringify(id)}`);
}

// ---- handlers ---------------------------------------------------------------------------

function listUsers(bucket: Bucket): Reply {
  const users: StoredUser[] = [];
  // list-keys (draft2) takes no prefix: walk every page and keep the user keys.
  let cursor: string | undefined;
  do {
    const page = kv('list-keys', () => bucket.listKeys(cursor));
    for (const key of page.keys) {
      if (!key.startsWith(USER_PREFIX)) continue;
      const user = readUser(bucket, key);
      if (user) users.push(user);
    }
    cursor = page.cursor;
  } while (cursor !== undefined);
  users.sort((a, b) => a.seq - b.seq);
  return (out) => sendJson(out, 200, users.map(publicUser));
}

function getUser(bucket: Bucket, id: string): Reply {
  const user = readUser(bucket, USER_PREFIX + id);
  if (!user) return notFoundUser(id);
  return (out) => sendJson(out, 200, publicUser(user));
}

function createUser(bucket: Bucket, bytes: Uint8Array): Reply {
  const parsed = parseJson(bytes);
  if (!parsed.ok) return error(400, 'BAD_JSON', parsed.message);
  const input = validateUser(parsed.value);
  if (!input.ok) return error(400, 'VALIDATION', input.message, input.field === undefined ? {} : { field: input.field });
  const { name, email } = input;

  // Of any number of concurrent requests for one email in one epoch, only the one that takes
  // the epoch's claim counter from 0 to 1 proceeds. A request that read an epoch a DELETE has
  // just closed gets a 409 it could have avoided; it never gets the email twice.
  const emailEpoch = kv('increment', () => increment(bucket, `email-epoch:${email}`, 0n));
  if (kv('increment', () => increment(bucket, `email-claim:${email}:${emailEpoch}`, 1n)) !== 1n) {
    return error(409, 'CONFLICT', 'a user with this email already exists', { field: 'email' });
  }

  const id = randomId();
  const seq = Number(kv('increment', () => increment(bucket, 'seq', 1n)));
  const user: StoredUser = { id, name, email, createdAt: new Date().toISOString(), seq, emailEpoch: String(emailEpoch) };
  kv('set', () => bucket.set(USER_PREFIX + id, encoder.encode(JSON.stringify(user))));
  kv('set', () => bucket.set(`email:${email}`, encoder.encode(id)));
  log('info', 'users', `created user ${id}`);
  return (out) => sendJson(out, 201, publicUser(user), [['location', `/api/users/${id}`]]);
}

function deleteUser(bucket: Bucket, id: string): Reply {
  const key = USER_PREFIX + id;
  const user = readUser(bucket, key);
  if (!user) return notFoundUser(id);
  // Two concurrent DELETEs both see the user; only the first may free the email, or the
  // epoch would move twice and a claim in the skipped epoch could coexist with the next.
  if (kv('increment', () => increment(bucket, `deleted:${id}`, 1n)) !== 1n) return notFoundUser(id);
  kv('delete', () => bucket.delete(key));
  kv('delete', () => bucket.delete(`email:${user.email}`));
  // Last, so the email is free only once the user and its index entry are gone.
  kv('increment', () => increment(bucket, `email-epoch:${user.email}`, 1n));
  log('info', 'users', `deleted user ${id}`);
  return (out) => sendEmpty(out, 204);
}

// ---- validation and storage -------------------------------------------------------------

type Parsed = { ok: true; value: unknown } | { ok: false; message: string };

function parseJson(bytes: Uint8Array): Parsed {
  const text = decodeUtf8(bytes);
  if (text === undefined) return { ok: false, message: 'the request body is not valid UTF-8' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch (e) {
    return { ok: false, message: `the request body is not valid JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
}

type Validated = { ok: true; name: string; email: string } | { ok: false; field: string | undefined; message: string };

function validateUser(value: unknown): Validated {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, field: undefined, message: 'expected a JSON object with "name" and "email"' };
  }
  const { name, email } = value as Record<string, unknown>;
  if (typeof name !== 'string') return { ok: false, field: 'name', message: 'name: expected a string' };
  const trimmedName = name.trim();
  if (trimmedName.length === 0) return { ok: false, field: 'name', message: 'name: must not be empty' };
  if ([...trimmedName].length > MAX_NAME_CHARS) {
    return { ok: false, field: 'name', message: `name: at most ${MAX_NAME_CHARS} characters` };
  }
  if (typeof email !== 'string') return { ok: false, field: 'email', message: 'email: expected a string' };
  const normalized = email.trim().toLowerCase();
  if (normalized.length > MAX_EMAIL_CHARS) {
    return { ok: false, field: 'email', message: `email: at most ${MAX_EMAIL_CHARS} characters` };
  }
  const at = normalized.lastIndexOf('@');
  if (!EMAIL_PATTERN.test(normalized) || at > MAX_EMAIL_LOCAL_CHARS) {
    return { ok: false, field: 'email', message: 'email: expected an address like name@example.com' };
  }
  return { ok: true, name: trimmedName, email: normalized };
}

function readUser(bucket: Bucket, key: string): StoredUser | undefined {
  const bytes = kv('get', () => bucket.get(key));
  return bytes === undefined ? undefined : (JSON.parse(decoder.decode(bytes)) as StoredUser);
}

function publicUser({ id, name, email, createdAt }: StoredUser): User {
  return { id, name, email, createdAt };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(ID_BYTES));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function decodeURIComponentSafe(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}
