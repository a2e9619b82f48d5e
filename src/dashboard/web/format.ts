/** How numbers read on the page. */

export function ms(v: number | null | undefined): string {
  if (v === null || v === undefined) return '–';
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 100) return `${v.toFixed(1)} ms`;
  if (v < 10_000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(1)} s`;
}

export function rate(perSecond: number): string {
  return perSecond === 0 ? '0/s' : perSecond < 10 ? `${perSecond.toFixed(1)}/s` : `${Math.round(perSecond)}/s`;
}

export function percent(fraction: number): string {
  return fraction === 0 ? '0 %' : `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)} %`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

export function time(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(d.getMilliseconds()).padStart(3, '0');
}

export function dateTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { hour12: false });
}

/** Version ids read as their first 12 characters, as in x-verge-version. */
export function short(id: string): string {
  return id.slice(0, 12);
}
