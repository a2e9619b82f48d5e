/**
 * How the deploy-request parsers in this folder report what is wrong: each problem goes to a sink
 * with its key path (`split[1].weight`) and a sentence, so the admin API can parse a whole request
 * and answer every problem at once. manifest/fields.ts's ManifestProblems is such a sink.
 */
export interface ProblemSink {
  add(path: string, message: string): void;
}

/** A JSON value as a message names it: `the string "x"`, `the number 2.5`, `an object`. */
export function describeJson(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v)}`;
  return `the ${typeof v} ${String(v)}`;
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Reports every key of `raw` outside `known`: a typo in a deploy request is an error, not a
 * default. True when there was none.
 */
export function knownKeysOnly(raw: Record<string, unknown>, known: readonly string[], path: string, problems: ProblemSink): boolean {
  let clean = true;
  for (const key of Object.keys(raw)) {
    if (known.includes(key)) continue;
    problems.add(`${path}.${key}`, `is not a known key (expected ${known.map((k) => JSON.stringify(k)).join(', ')})`);
    clean = false;
  }
  return clean;
}

/**
 * An integer in [min, max], or a problem naming the range and its unit; `subject` starts the
 * message when the path alone does not say what the value belongs to (`version "a": …`).
 */
export function integerIn(raw: unknown, path: string, problems: ProblemSink, opts: { min: number; max: number; unit: string; subject?: string }): number | undefined {
  if (typeof raw === 'number' && Number.isInteger(raw) && raw >= opts.min && raw <= opts.max) return raw;
  const subject = opts.subject ? `${opts.subject}: ` : '';
  problems.add(path, `${subject}expected an integer from ${opts.min} to ${opts.max} (${opts.unit}), got ${describeJson(raw)}`);
  return undefined;
}
