/** Small helpers for bench/RESULTS.md: statistics, number formats, markdown tables, prepend a section. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The element whose `key` is the median (the lower middle one for an even count). */
export function medianBy<T>(items: T[], key: (t: T) => number): T {
  if (items.length === 0) throw new Error('medianBy of nothing');
  const s = [...items].sort((a, b) => key(a) - key(b));
  return s[Math.floor((s.length - 1) / 2)]!;
}

export const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
export const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : n.toFixed(0)) + ' ms' : 'n/a');
export const fmtPct = (n: number) => (Number.isFinite(n) ? `${Math.round(n)} %` : 'n/a');
export const fmtMiB = (kib: number) => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(1)} MiB` : 'n/a');
export const fmtRatio = (n: number) => (Number.isFinite(n) ? `${n.toFixed(2)}×` : 'n/a');

export function table(header: string[], rows: string[][], align?: Array<'l' | 'r'>): string {
  const sep = header.map((_, i) => ((align?.[i] ?? 'l') === 'r' ? '---:' : '---'));
  const line = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), `|${sep.join('|')}|`, ...rows.map(line)].join('\n');
}

export const RESULTS_HEADER = `# Verge benchmark results

Written by \`npm run bench\` (bench/run.ts); each run adds a dated section below, newest first.
All figures in one section come from one run on one machine, so compare ratios within a section;
absolute numbers drift between runs on a shared machine.
`;

/** Inserts `section` (starting with "## ") above the newest existing section, keeping the header. */
export function prependSection(file: string, section: string): void {
  const body = section.trimEnd() + '\n';
  if (!existsSync(file)) {
    writeFileSync(file, `${RESULTS_HEADER}\n${body}`);
    return;
  }
  const old = readFileSync(file, 'utf8');
  const at = old.search(/^## /m);
  if (at === -1) {
    writeFileSync(file, `${old.trimEnd()}\n\n${body}`);
    return;
  }
  writeFileSync(file, `${old.slice(0, at)}${body}\n${old.slice(at)}`);
}
