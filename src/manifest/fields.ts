/**
 * A strict reader over a parsed TOML table. It records every problem with the file and the full
 * key path, and `done()` turns the keys nobody asked for into errors, so a typo never passes
 * silently.
 */
export class ManifestProblems {
  readonly items: Problem[] = [];
  /**
   * `locate`: where a key path of the checked document was written, when that document was
   * translated from another file (a spin.toml, its runtime config); `undefined` drops a problem
   * the translation already reported in the source's own terms.
   */
  constructor(
    readonly file: string,
    private readonly locate?: (keyPath: string) => { file: string; path: string } | undefined,
  ) {}
  add(keyPath: string, message: string): void {
    const at = this.locate ? this.locate(keyPath) : { file: this.file, path: keyPath };
    if (at === undefined) return;
    // Names and values come from the file: a newline would forge a problem line of its own, and
    // an escape sequence would reach the operator's terminal.
    this.items.push({ file: at.file, path: clean(at.path), message: clean(message) });
  }
  /** A problem a validator elsewhere already phrased as `key.path: message`. */
  addPhrased(phrased: string): void {
    const at = phrased.indexOf(': ');
    if (at === -1) this.items.push({ file: this.file, path: '', message: clean(phrased) });
    else this.add(phrased.slice(0, at), phrased.slice(at + 2));
  }
  /** One line per problem, as the CLI prints them: `file: key.path: message`. */
  get list(): string[] {
    return this.items.map(formatProblem);
  }
}

/** One thing wrong with a manifest, as data: the CLI prints it, an API can return it as JSON. */
export interface Problem {
  file: string;
  /** The key path (`component.api.limits.timeout_ms`); empty when the problem is the file as a whole. */
  path: string;
  message: string;
}

export function formatProblem(p: Problem): string {
  return p.path ? `${p.file}: ${p.path}: ${p.message}` : `${p.file}: ${p.message}`;
}

const CONTROL = /[\u0000-\u001f\u007f]/g;
const escapeControl = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
const clean = (text: string) => text.replace(CONTROL, escapeControl);

/** A key as it is written in TOML: bare when it can be, quoted otherwise (`component."my app"`). */
export function tomlKey(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}

export type TomlTable = Record<string, unknown>;

export function isTable(v: unknown): v is TomlTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

export function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Date) return 'a date';
  if (isTable(v)) return 'a table';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 60 ? v.slice(0, 60) + '…' : v)}`;
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'number') return `the float ${String(v)}`;
  return `the ${typeof v} ${String(v)}`;
}

export class Fields {
  private readonly seen = new Set<string>();
  constructor(
    private readonly problems: ManifestProblems,
    readonly path: string,
    readonly raw: TomlTable,
  ) {}

  private key(name: string): string {
    return this.path ? `${this.path}.${tomlKey(name)}` : tomlKey(name);
  }

  private take(name: string): unknown {
    this.seen.add(name);
    return this.raw[name];
  }

  string(name: string, opts: { required: true; pattern?: RegExp; expected?: string }): string | undefined;
  string(name: string, opts?: { required?: false; pattern?: RegExp; expected?: string }): string | undefined;
  string(name: string, opts: { required?: boolean; pattern?: RegExp; expected?: string } = {}): string | undefined {
    const v = this.take(name);
    const expected = opts.expected ?? 'a non-empty string';
    if (v === undefined) {
      if (opts.required) this.problems.add(this.key(name), `is required: expected ${expected}`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0 || (opts.pattern && !opts.pattern.test(v))) {
      this.problems.add(this.key(name), `expected ${expected}, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** An array of strings, each checked against `pattern`; reported as `key[i]`. */
  stringList(name: string, opts: { pattern?: RegExp; expected: string }): string[] {
    const v = this.take(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problems.add(this.key(name), `expected an array of strings (${opts.expected}), got ${describe(v)}`);
      return [];
    }
    const out: string[] = [];
    v.forEach((item, i) => {
      if (typeof item !== 'string' || item.length === 0 || (opts.pattern && !opts.pattern.test(item))) {
        this.problems.add(`${this.key(name)}[${i}]`, `expected ${opts.expected}, got ${describe(item)}`);
      } else if (out.includes(item)) {
        this.problems.add(`${this.key(name)}[${i}]`, `${JSON.stringify(item)} is listed twice`);
      } else out.push(item);
    });
    return out;
  }

  /**
   * A grant (`databases = ["main"]`): a list of names, each of which the app must declare;
   * `missing(name)` tells what to do about one it does not.
   */
  grantList(name: string, declared: { has(name: string): boolean }, opts: { expected: string; missing: (item: string) => string }): string[] {
    const granted = this.stringList(name, { expected: opts.expected });
    granted.forEach((item, i) => {
      if (!declared.has(item)) this.problems.add(`${this.key(name)}[${i}]`, opts.missing(item));
    });
    return granted;
  }

  /** The raw value, for validators that live elsewhere (they report through `problems`). */
  value(name: string): unknown {
    return this.take(name);
  }

  boolean(name: string): boolean | undefined {
    const v = this.take(name);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.problems.add(this.key(name), `expected true or false, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }

  /** `key` as a full key path, for messages built outside this class. */
  keyPath(name: string): string {
    return this.key(name);
  }

  integer(name: string, opts: { min: number; max: number; unit: string }): number | undefined {
    const v = this.take(name);
    if (v === undefined) return undefined;
    // The parser gives integers as bigint; a number here is a TOML float, even 64.0.
    const n = typeof v === 'bigint' ? Number(v) : NaN;
    if (!(n >= opts.min && n <= opts.max)) {
      this.problems.add(this.key(name), `expected an integer from ${opts.min} to ${opts.max} (${opts.unit}), got ${describe(v)}`);
      return undefined;
    }
    return n;
  }

  table(name: string, opts: { required?: boolean } = {}): Fields | undefined {
    const v = this.take(name);
    if (v === undefined) {
      if (opts.required) this.problems.add(this.key(name), 'is required: expected a table');
      return undefined;
    }
    if (!isTable(v)) {
      this.problems.add(this.key(name), `expected a table, got ${describe(v)}`);
      return undefined;
    }
    return new Fields(this.problems, this.key(name), v);
  }

  /** The entries of a table of tables, such as `[component.NAME]`. */
  tables(name: string): Array<[string, Fields]> {
    const v = this.take(name);
    if (v === undefined) return [];
    if (!isTable(v)) {
      this.problems.add(this.key(name), `expected a table of named tables, got ${describe(v)}`);
      return [];
    }
    const out: Array<[string, Fields]> = [];
    for (const [k, entry] of Object.entries(v)) {
      const path = `${this.key(name)}.${tomlKey(k)}`;
      if (!isTable(entry)) this.problems.add(path, `expected a table, got ${describe(entry)}`);
      else out.push([k, new Fields(this.problems, path, entry)]);
    }
    return out;
  }

  /** An array of tables, such as `[[route]]`. */
  array(name: string): Fields[] {
    const v = this.take(name);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problems.add(this.key(name), `expected an array of tables ([[${name}]]), got ${describe(v)}`);
      return [];
    }
    const out: Fields[] = [];
    v.forEach((entry, i) => {
      if (!isTable(entry)) this.problems.add(`${this.key(name)}[${i}]`, `expected a table, got ${describe(entry)}`);
      else out.push(new Fields(this.problems, `${this.key(name)}[${i}]`, entry));
    });
    return out;
  }

  /** Reports every key that was never read. */
  done(): void {
    for (const k of Object.keys(this.raw)) {
      if (!this.seen.has(k)) this.problems.add(this.key(k), `unknown key (expected one of: ${[...this.seen].join(', ')})`);
    }
  }
}
