/**
 * The admin API from the browser: the bearer token lives in sessionStorage (gone when the tab
 * closes) and goes with every call; a 401 sends the user back to the sign-in form.
 */
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

/** GET `path` (under /v1/) with the token, or with `candidate` when checking one at sign-in. */
export async function api<T>(path: string, candidate?: string | null): Promise<T> {
  const t = candidate === undefined ? token.get() : candidate;
  const res = await fetch(`/v1/${path}`, { headers: t ? { authorization: `Bearer ${t}` } : {}, cache: 'no-store' });
  const body = (await res.json().catch(() => ({}))) as { error?: string; message?: string };
  if (!res.ok) {
    const err = new ApiError(res.status, body.error ?? 'HTTP_' + res.status, body.message ?? res.statusText);
    if (res.status === 401 && candidate === undefined) onUnauthorized();
    throw err;
  }
  return body as T;
}

/** Encodes one path segment (an app, a store, a key with slashes in it). */
export const seg = encodeURIComponent;
