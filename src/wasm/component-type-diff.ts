/**
 * Whether an instance one component exports can satisfy an instance another imports, by their
 * types (component-types.ts): every function and type the import names must be exported, with
 * the same parameters (names and types, in order), the same result, and the same value types —
 * compared structurally, as the component model does. The export may hold more than the import
 * asks for. Resources, streams, futures, error contexts and async functions are not linked at all:
 * `unlinkable` names the first one the import uses.
 *
 * Types are shared trees (a DAG), so comparisons are memoised and renderings bounded: a hostile
 * binary cannot make either exponential.
 */
import { force, type Extern, type FuncType, type InstanceType, type ValType } from './component-types.js';

/** How many differences one check reports before it stops. */
export const MAX_DIFFERENCES = 8;
/** Roughly how long a rendered type may get in a message. */
const RENDER_BUDGET = 160;

/** Who is who in messages: "api's import", "auth's export". */
export interface Sides {
  importer: string;
  exporter: string;
}

/**
 * The first thing in `required` Verge does not link between components, as a phrase naming it
 * ("the resource type session, used by function open"), or undefined when there is none.
 */
export function unlinkable(required: InstanceType): string | undefined {
  const seen = new Set<object>();
  const inType = (t: ValType | undefined): string | undefined => {
    if (!t || seen.has(t)) return undefined;
    seen.add(t);
    switch (t.kind) {
      case 'own':
      case 'borrow':
        return `the resource type ${t.resource.name ?? '(unnamed)'}`;
      case 'stream':
      case 'future':
        return `a ${t.kind} (${render(t)})`;
      case 'primitive':
        return t.primitive === 'error-context' ? 'an error-context' : undefined;
      case 'record':
        return first(t.fields.map((f) => () => inType(f.type)));
      case 'variant':
        return first(t.cases.map((c) => () => inType(c.type)));
      case 'list':
      case 'option':
        return inType(t.kind === 'list' ? t.element : t.type);
      case 'tuple':
        return first(t.types.map((x) => () => inType(x)));
      case 'result':
        return inType(t.ok) ?? inType(t.err);
      case 'flags':
      case 'enum':
        return undefined;
    }
  };
  const inExtern = (name: string, e: Extern): string | undefined => {
    switch (e.sort) {
      case 'func': {
        if (e.type.unsupported) return `function ${name}: ${e.type.unsupported}`;
        const found = first([...e.type.params.map((p) => () => inType(p.type)), () => inType(e.type.result)]);
        return found && `${found}, used by function ${name}`;
      }
      case 'type':
        return e.type.kind === 'resource' ? `the resource type ${e.type.name ?? name}` : inType(e.type);
      case 'instance':
        return unlinkable(e.type);
      case 'component':
      case 'module':
        return `${name}, a ${e.sort}`;
    }
  };
  for (const [name, e] of required.exports) {
    const found = inExtern(name, force(e));
    if (found) return found;
  }
  return undefined;
}

function first(checks: Array<() => string | undefined>): string | undefined {
  for (const check of checks) {
    const found = check();
    if (found) return found;
  }
  return undefined;
}

/**
 * How `provided` falls short of `required`, one sentence a difference (at most MAX_DIFFERENCES),
 * or an empty list when it satisfies it. Check `unlinkable(required)` first: resources are not compared.
 */
export function diffInstances(required: InstanceType, provided: InstanceType, sides: Sides, prefix = ''): string[] {
  const out: string[] = [];
  const equal = new Equality();
  for (const [name, lazy] of required.exports) {
    if (out.length >= MAX_DIFFERENCES) break;
    const want = force(lazy);
    const gotLazy = provided.exports.get(name);
    const what = `${describeSort(want)} ${prefix}${name}`;
    if (gotLazy === undefined) {
      out.push(`${what} is missing from ${sides.exporter}`);
      continue;
    }
    const got = force(gotLazy);
    if (got.sort !== want.sort) {
      out.push(`${prefix}${name} is a ${describeSort(want)} in ${sides.importer} but a ${describeSort(got)} in ${sides.exporter}`);
      continue;
    }
    if (want.sort === 'func' && got.sort === 'func') {
      const d = diffFuncs(want.type, got.type, equal);
      if (d) out.push(`${what}: ${d.where ? `${d.where}: ` : ''}${d.want} in ${sides.importer}, ${d.got} in ${sides.exporter}`);
    } else if (want.sort === 'type' && got.sort === 'type') {
      if (want.type.kind === 'resource' || got.type.kind === 'resource') {
        if (want.type.kind !== got.type.kind) out.push(`${what}: ${show(want.type)} in ${sides.importer}, ${show(got.type)} in ${sides.exporter}`);
        continue;
      }
      const d = equal.diff(want.type, got.type);
      if (d) out.push(`${what}: ${d.path.length > 0 ? `${d.path.join(' ')}: ` : ''}${d.want} in ${sides.importer}, ${d.got} in ${sides.exporter}`);
    } else if (want.sort === 'instance' && got.sort === 'instance') {
      out.push(...diffInstances(want.type, got.type, sides, `${prefix}${name}.`));
    }
  }
  return out.slice(0, MAX_DIFFERENCES);
}

function describeSort(e: Extern): string {
  return e.sort === 'func' ? 'function' : e.sort;
}

function show(t: ValType | { kind: 'resource'; name?: string | undefined }): string {
  return t.kind === 'resource' ? `the resource ${t.name ?? '(unnamed)'}` : render(t);
}

interface FuncDifference {
  where: string;
  want: string;
  got: string;
}

function diffFuncs(want: FuncType, got: FuncType, equal: Equality): FuncDifference | undefined {
  if (want.params.length !== got.params.length) {
    const list = (f: FuncType) => `${f.params.length} parameter${f.params.length === 1 ? '' : 's'} (${clip(f.params.map((p) => `${p.name}: ${render(p.type)}`).join(', '))})`;
    return { where: '', want: `takes ${list(want)}`, got: `${list(got)}` };
  }
  for (let i = 0; i < want.params.length; i++) {
    const w = want.params[i]!;
    const g = got.params[i]!;
    if (w.name !== g.name) return { where: `parameter ${i + 1}`, want: `is named ${w.name}`, got: `${g.name}` };
    const d = equal.diff(w.type, g.type);
    if (d) return { where: [`parameter ${w.name}`, ...d.path].join(' '), want: d.want, got: d.got };
  }
  if (!want.result || !got.result) {
    if (want.result || got.result) return { where: 'result', want: want.result ? render(want.result) : 'none', got: got.result ? render(got.result) : 'none' };
    return undefined;
  }
  const d = equal.diff(want.result, got.result);
  return d && { where: ['result', ...d.path].join(' '), want: d.want, got: d.got };
}

interface Difference {
  /** Where inside the compared types: ["ok", "field scopes", "element"]. */
  path: string[];
  want: string;
  got: string;
}

/** Structural equality of value types, memoised by pairs of type objects (types are shared DAGs). */
class Equality {
  private readonly same = new WeakMap<object, WeakSet<object>>();

  diff(a: ValType, b: ValType): Difference | undefined {
    if (a === b || this.same.get(a)?.has(b)) return undefined;
    const d = this.compare(a, b);
    if (!d) {
      let set = this.same.get(a);
      if (!set) this.same.set(a, (set = new WeakSet()));
      set.add(b);
    }
    return d;
  }

  private optional(a: ValType | undefined, b: ValType | undefined, step: string): Difference | undefined {
    if (!a || !b) return a || b ? { path: [step], want: a ? render(a) : 'none', got: b ? render(b) : 'none' } : undefined;
    return this.within(step, this.diff(a, b));
  }

  private within(step: string, d: Difference | undefined): Difference | undefined {
    return d && { ...d, path: [step, ...d.path] };
  }

  private compare(a: ValType, b: ValType): Difference | undefined {
    const whole: Difference = { path: [], want: render(a), got: render(b) };
    if (a.kind !== b.kind) return whole;
    switch (a.kind) {
      case 'primitive':
        return a.primitive === (b as typeof a).primitive ? undefined : whole;
      case 'record': {
        const o = b as typeof a;
        if (a.fields.length !== o.fields.length || a.fields.some((f, i) => f.name !== o.fields[i]!.name)) return whole;
        for (let i = 0; i < a.fields.length; i++) {
          const d = this.within(`field ${a.fields[i]!.name}`, this.diff(a.fields[i]!.type, o.fields[i]!.type));
          if (d) return d;
        }
        return undefined;
      }
      case 'variant': {
        const o = b as typeof a;
        if (a.cases.length !== o.cases.length || a.cases.some((c, i) => c.name !== o.cases[i]!.name)) return whole;
        for (let i = 0; i < a.cases.length; i++) {
          const d = this.optional(a.cases[i]!.type, o.cases[i]!.type, `case ${a.cases[i]!.name}`);
          if (d) return d;
        }
        return undefined;
      }
      case 'list': {
        const o = b as typeof a;
        if (a.length !== o.length) return whole;
        return this.within('element', this.diff(a.element, o.element));
      }
      case 'tuple': {
        const o = b as typeof a;
        if (a.types.length !== o.types.length) return whole;
        for (let i = 0; i < a.types.length; i++) {
          const d = this.within(`item ${i + 1}`, this.diff(a.types[i]!, o.types[i]!));
          if (d) return d;
        }
        return undefined;
      }
      case 'flags':
      case 'enum': {
        const o = b as typeof a;
        return a.names.length === o.names.length && a.names.every((n, i) => n === o.names[i]) ? undefined : whole;
      }
      case 'option':
        return this.within('some', this.diff(a.type, (b as typeof a).type));
      case 'result': {
        const o = b as typeof a;
        return this.optional(a.ok, o.ok, 'ok') ?? this.optional(a.err, o.err, 'error');
      }
      case 'stream':
      case 'future':
        return this.optional(a.type, (b as typeof a).type, 'element');
      case 'own':
      case 'borrow':
        // Resources are nominal; unlinkable() refuses them before anything is compared.
        return whole;
    }
  }
}

function clip(text: string): string {
  return text.length > RENDER_BUDGET ? `${text.slice(0, RENDER_BUDGET - 1)}…` : text;
}

/** A value type as WIT writes it, `claims` for a named record, at most about RENDER_BUDGET characters. */
export function render(t: ValType): string {
  let budget = RENDER_BUDGET;
  const go = (t: ValType | undefined, top: boolean): string => {
    if (!t) return '_';
    if (budget <= 0) return '…';
    budget -= 4;
    if (t.name !== undefined && !top) return t.name;
    switch (t.kind) {
      case 'primitive':
        return t.primitive;
      case 'record':
        return `${t.name !== undefined ? `record ${t.name} ` : 'record '}{ ${t.fields.map((f) => `${f.name}: ${go(f.type, false)}`).join(', ')} }`;
      case 'variant':
        return `variant { ${t.cases.map((c) => (c.type ? `${c.name}(${go(c.type, false)})` : c.name)).join(', ')} }`;
      case 'list':
        return t.length === undefined ? `list<${go(t.element, false)}>` : `list<${go(t.element, false)}, ${t.length}>`;
      case 'tuple':
        return `tuple<${t.types.map((x) => go(x, false)).join(', ')}>`;
      case 'flags':
      case 'enum':
        return `${t.kind} { ${t.names.join(', ')} }`;
      case 'option':
        return `option<${go(t.type, false)}>`;
      case 'result':
        if (!t.ok && !t.err) return 'result';
        return t.err ? `result<${go(t.ok, false)}, ${go(t.err, false)}>` : `result<${go(t.ok, false)}>`;
      case 'own':
        return t.resource.name ?? 'own<resource>';
      case 'borrow':
        return `borrow<${t.resource.name ?? 'resource'}>`;
      case 'stream':
      case 'future':
        return t.type ? `${t.kind}<${go(t.type, false)}>` : t.kind;
    }
  };
  return clip(go(t, true));
}
