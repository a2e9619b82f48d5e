/** How outbound calls are described in messages and logs. */

/** A URL: no query (it may carry keys), no fragment. */
export function show(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

export function quote(v: unknown): string {
  const s = typeof v === 'string' ? v : String(v);
  return JSON.stringify(s.length > 80 ? s.slice(0, 80) + '…' : s);
}

export function bytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
