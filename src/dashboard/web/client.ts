/**
 * The admin API from the browser: the bearer token lives in sessionStorage (gone when the tab
 * closes) and goes with every call; a 401 sends the user back to the sign-in form.
 */
import type { SseParser } from './sse.js';

const KEY = 'verge-admin-token';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const token = {
  get: (): string | null => sessionStorage.getItem(KEY),
  set: (value: string): void => sessionStorage.setItem(KEY, value),
  clear: (): void => sessionStorage.removeItem(KEY),
};

let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function authorization(t: string | null): Record<string, string> {
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** The API's `{error, message}` answer as an ApiError; a 401 to the saved token signs out. */
async function refused(res: Response, savedToken: boolean): Promise<ApiError> {
  const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
  if (res.status === 401 && savedToken) onUnauthorized();
  return new ApiError(res.status, body.error ?? 'HTTP_' + res.status, body.message ?? res.statusText);
}

/** GET `path` (under /v1/) with the token, or with `candidate` when checking one at sign-in. */
export async function api<T>(path: string, candidate?: string | null): Promise<T> {
  const t = candidate === undefined ? token.get() : candidate;
  const res = await fetch(`/v1/${path}`, { headers: authorization(t), cache: 'no-store' });
  if (!res.ok) throw await refused(res, candidate === undefined);
  return (await res.json()) as T;
}

/**
 * GET `path` as a Server-Sent Events stream with the token (an EventSource cannot send it),
 * handing each event to `parser`; resolves when the node ends the stream, rejects when it fails
 * or `signal` aborts it. A reconnect passes the parser's lastEventId to resume after it.
 */
export async function stream(path: string, parser: SseParser, signal: AbortSignal): Promise<void> {
  const headers = { ...authorization(token.get()), accept: 'text/event-stream' };
  const res = await fetch(`/v1/${path}`, { headers: parser.lastEventId === undefined ? headers : { ...headers, 'last-event-id': parser.lastEventId }, cache: 'no-store', signal });
  if (!res.ok || !res.body) throw await refused(res, true);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  } finally {
    reader.releaseLock();
  }
}

/** Encodes one path segment (an app, a store, a key with slashes in it). */
export const seg = encodeURIComponent;
