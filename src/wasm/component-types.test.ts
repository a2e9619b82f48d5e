import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { component, section, u32 } from '../../test/support/component-bytes.js';
import { vergeError } from '../../test/support/verge-error.js';
import {
  D,
  Decl,
  Import,
  Instance,
  T,
  aliasExport,
  aliasSection,
  canonLiftSection,
  exporting,
  exportsSection,
  importing,
  importsSection,
  instanceSection,
  typeSection,
} from '../../test/support/component-type-bytes.js';
import { MAX_NESTING, componentAsyncUse, force, readComponentTypes, type Extern, type InstanceType } from './component-types.js';
import { render } from './component-type-diff.js';

const IFACE = 'acme:auth/verify@0.1.0';

function importedInstance(bytes: Uint8Array, name = IFACE): InstanceType {
  const e = readComponentTypes(bytes).imports.get(name);
  assert.equal(e?.sort, 'instance');
  return (e as Extract<Extern, { sort: 'instance' }>).type;
}

function exportedInstance(bytes: Uint8Array, name = IFACE): InstanceType {
  const lazy = readComponentTypes(bytes).exports.get(name);
  assert.ok(lazy !== undefined, `no export ${name}`);
  const e = force(lazy);
  assert.equal(e.sort, 'instance');
  return (e as Extract<Extern, { sort: 'instance' }>).type;
}

/** Each function of an instance as WIT would write it. */
function signatures(instance: InstanceType): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, lazy] of instance.exports) {
    const e = force(lazy);
    if (e.sort === 'func') out[name] = `func(${e.type.params.map((p) => `${p.name}: ${render(p.type)}`).join(', ')})${e.type.result ? ` -> ${render(e.type.result)}` : ''}`;
    else if (e.sort === 'type') out[name] = e.type.kind === 'resource' ? 'resource' : render(e.type);
  }
  return out;
}

/** The claims interface of the tests: a record, used by the result of a function. */
const CLAIMS_DECLS = [
  Decl.type(D.list(T.string)), // 0
  Decl.type(D.record([['subject', T.string], ['scopes', T.ref(0)], ['served', T.u32]])), // 1
  Decl.exportType('claims', 1), // 2
  Decl.type(D.result(T.ref(2), T.string)), // 3
  Decl.type(D.func([['token', T.string]], T.ref(3))), // 4
  Decl.exportFunc('verify', 4),
];

describe('readComponentTypes: imported interfaces', () => {
  test('reads the functions of an imported interface with their parameter names and types, and its named types', () => {
    assert.deepEqual(signatures(importedInstance(importing(IFACE, CLAIMS_DECLS))), {
      claims: 'record claims { subject: string, scopes: list<string>, served: u32 }',
      verify: 'func(token: string) -> result<claims, string>',
    });
  });

  test('reads every value type the component model has: variants, enums, flags, tuples, options, results and primitives', () => {
    const decls = [
      Decl.type(D.variant([['none', undefined], ['code', T.u32], ['text', T.string]])), // 0
      Decl.type(D.enum(['low', 'high'])), // 1
      Decl.type(D.flags(['read', 'write'])), // 2
      Decl.type(D.tuple([T.u8, T.char, T.f64])), // 3
      Decl.type(D.option(T.u64)), // 4
      Decl.type(D.result(undefined, undefined)), // 5
      Decl.type(D.func([['a', T.ref(0)], ['b', T.ref(1)], ['c', T.ref(2)], ['d', T.ref(3)], ['e', T.ref(4)], ['f', T.bool]], T.ref(5))), // 6
      Decl.exportFunc('all', 6),
      Decl.type(D.func([])), // 7
      Decl.exportFunc('nothing', 7),
    ];
    assert.deepEqual(signatures(importedInstance(importing(IFACE, decls))), {
      all: 'func(a: variant { none, code(u32), text(string) }, b: enum { low, high }, c: flags { read, write }, d: tuple<u8, char, f64>, e: option<u64>, f: bool) -> result',
      nothing: 'func()',
    });
  });

  test('follows a type another interface defines, through an alias of that import and an outer alias', () => {
    const bytes = component(
      typeSection([D.instance([Decl.type(D.record([['id', T.string]])), Decl.exportType('user', 0)])]), // type 0
      importsSection([Import.instance('acme:auth/types@0.1.0', 0)]), // instance 0
      aliasSection([aliasExport('type', 0, 'user')]), // type 1
      typeSection([D.instance([Decl.aliasOuterType(1, 1), Decl.exportType('user', 0), Decl.type(D.func([], T.ref(1))), Decl.exportFunc('whoami', 2)])]), // type 2
      importsSection([Import.instance(IFACE, 2)]),
    );
    assert.deepEqual(signatures(importedInstance(bytes)), { user: 'record user { id: string }', whoami: 'func() -> record user { id: string }' });
  });

  test('names resource types, whether imported with sub resource or used through own and borrow', () => {
    const decls = [Decl.exportResource('session'), Decl.type(D.own(0)), Decl.type(D.borrow(0)), Decl.type(D.func([['s', T.ref(2)]], T.ref(1))), Decl.exportFunc('renew', 3)];
    assert.deepEqual(signatures(importedInstance(importing(IFACE, decls))), { session: 'resource', renew: 'func(s: borrow<session>) -> session' });
  });
});

describe('readComponentTypes: exported interfaces', () => {
  test('reads an interface exported as wit-component writes it: a nested component instantiated, its exports ascribed', () => {
    const defs = [D.list(T.string), D.record([['subject', T.string], ['scopes', T.ref(0)], ['served', T.u32]]), D.result(T.ref(1), T.string), D.func([['token', T.string]], T.ref(2))];
    const bytes = exporting(IFACE, defs, [
      { name: 'claims', type: 1 },
      { name: 'verify', func: 3 },
    ]);
    assert.deepEqual(signatures(exportedInstance(bytes)), {
      claims: 'record claims { subject: string, scopes: list<string>, served: u32 }',
      verify: 'func(token: string) -> result<record { subject: string, scopes: list<string>, served: u32 }, string>',
    });
  });

  test('reads an interface exported as an instance of inline exports, its functions typed by canon lift', () => {
    const bytes = component(
      typeSection([D.func([['n', T.u32]], T.string)]),
      canonLiftSection(0), // func 0
      instanceSection([Instance.inline([{ name: 'show', sort: 'func', index: 0 }])]),
      exportsSection([{ name: IFACE, sort: 'instance', index: 0 }]),
    );
    assert.deepEqual(signatures(exportedInstance(bytes)), { show: 'func(n: u32) -> string' });
  });

  test('reads an interface re-exported from an import, and one aliased out of an imported instance', () => {
    const bytes = component(
      typeSection([D.instance([Decl.type(D.func([], T.bool)), Decl.exportFunc('ok', 0)]), D.instance([Decl.type(D.instance([Decl.type(D.func([], T.bool)), Decl.exportFunc('ok', 0)])), Decl.exportInstance('inner', 0)])]),
      importsSection([Import.instance('acme:a/x@1.0.0', 0), Import.instance('acme:a/outer@1.0.0', 1)]),
      aliasSection([aliasExport('instance', 1, 'inner')]),
      exportsSection([
        { name: 'acme:a/y@1.0.0', sort: 'instance', index: 0 },
        { name: 'acme:a/z@1.0.0', sort: 'instance', index: 2 },
      ]),
    );
    assert.deepEqual(signatures(exportedInstance(bytes, 'acme:a/y@1.0.0')), { ok: 'func() -> bool' });
    assert.deepEqual(signatures(exportedInstance(bytes, 'acme:a/z@1.0.0')), { ok: 'func() -> bool' });
  });

  test('reads names written in the older 0x01 form as the same names', () => {
    const bytes = importing(IFACE, CLAIMS_DECLS);
    const at = Buffer.from(bytes).indexOf(Buffer.from([0x00, ...u32(IFACE.length), ...Buffer.from(IFACE)]));
    bytes[at] = 0x01;
    assert.ok(readComponentTypes(bytes).imports.has(IFACE));
  });
});

describe('readComponentTypes: what it refuses', () => {
  test('refuses a truncated section, an unknown type form and an index out of range with MODULE_INVALID saying which', () => {
    const good = importing(IFACE, CLAIMS_DECLS);
    assert.throws(() => readComponentTypes(good.subarray(0, good.length - 3)), vergeError('MODULE_INVALID', /runs past the end/));
    assert.throws(() => readComponentTypes(component(typeSection([[0x55]]))), vergeError('MODULE_INVALID', /unknown type form 0x55/));
    assert.throws(() => readComponentTypes(component(importsSection([Import.instance(IFACE, 3)]))), vergeError('MODULE_INVALID', /type index 3 is out of range \(0 defined\)/));
    assert.throws(() => readComponentTypes(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0])), vergeError('MODULE_INVALID', /not a component/));
  });

  test('refuses a count larger than the bytes left without looping over it', () => {
    const huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
    assert.throws(() => readComponentTypes(component(section(7, [0x01, 0x72, ...huge]))), vergeError('MODULE_INVALID', /a vector of 4294967295 entries/));
  });

  test('refuses components and types nested deeper than its limit', () => {
    let bytes = component();
    for (let i = 0; i <= MAX_NESTING + 1; i++) bytes = component(section(4, [...bytes]), instanceSection([Instance.instantiate(0, [])]), exportsSection([{ name: 'x', sort: 'instance', index: 0 }]));
    assert.throws(() => force(readComponentTypes(bytes).exports.get('x')!), vergeError('MODULE_INVALID', /nested more than 32 deep/));
    let def = D.func([]);
    for (let i = 0; i <= MAX_NESTING + 1; i++) def = D.instance([Decl.type(def)]);
    assert.throws(() => readComponentTypes(component(typeSection([def]))), vergeError('MODULE_INVALID', /nested more than 32 deep/));
  });

  test('fails only the export that needs a construct it cannot type, with DEPENDENCY_INVALID', () => {
    const bytes = component(
      typeSection([D.instance([Decl.type(D.func([], T.bool)), Decl.exportFunc('ok', 0)])]),
      importsSection([Import.instance('acme:a/x@1.0.0', 0)]),
      section(12, [0x00]),
      exportsSection([
        { name: 'acme:a/x@1.0.0', sort: 'instance', index: 0 },
        { name: 'a-value', sort: 'value', index: 0 },
      ]),
    );
    const types = readComponentTypes(bytes);
    assert.equal(force(types.exports.get('acme:a/x@1.0.0')!).sort, 'instance');
    assert.throws(() => force(types.exports.get('a-value')!), vergeError('DEPENDENCY_INVALID', /a-value is a component value/));
    assert.throws(() => readComponentTypes(component(importsSection([Import.value('v')]))), vergeError('DEPENDENCY_INVALID', /v is a component value/));
    assert.throws(() => readComponentTypes(importing(IFACE, [Decl.coreType()])), vergeError('DEPENDENCY_INVALID', /a core type inside an instance or component type/));
  });

  test('defers a canon function it does not know to the functions defined after it', () => {
    const bytes = component(
      typeSection([D.func([], T.u32)]),
      canonLiftSection(0), // func 0, typed
      section(8, [0x01, 0x7e]), // an unknown canon: funcs after it cannot be placed
      canonLiftSection(0), // func 1, in a section that reads fine, but after the lost place
      instanceSection([Instance.inline([{ name: 'a', sort: 'func', index: 0 }]), Instance.inline([{ name: 'b', sort: 'func', index: 1 }])]),
      exportsSection([
        { name: 'acme:a/a@1.0.0', sort: 'instance', index: 0 },
        { name: 'acme:a/b@1.0.0', sort: 'instance', index: 1 },
      ]),
    );
    const types = readComponentTypes(bytes);
    assert.deepEqual(signatures(exportedInstance(bytes, 'acme:a/a@1.0.0')), { a: 'func() -> u32' });
    const b = force(types.exports.get('acme:a/b@1.0.0')!) as Extract<Extern, { sort: 'instance' }>;
    assert.throws(() => force(b.type.exports.get('b')!), vergeError('DEPENDENCY_INVALID', /a canonical function 0x7e this reader does not know/));
  });
});

describe('componentAsyncUse: the component model async ABI that WASI 0.3 is built on', () => {
  const canon = (...entries: number[][]) => section(8, [...u32(entries.length), ...entries.flat()]);
  const liftWith = (...opts: number[][]) => [0x00, 0x00, 0x00, ...u32(opts.length), ...opts.flat(), 0x00];
  const nested = (...sections: number[][]) => section(4, [...component(...sections)]);

  test('a component whose functions are lifted and lowered synchronously uses none', () => {
    const bytes = component(canon(liftWith([0x00], [0x03, 0x00], [0x04, 0x01]), [0x01, 0x00, 0x00, 0x01, 0x03, 0x00], [0x02, 0x00], [0x03, 0x00], [0x04, 0x00]));
    assert.equal(componentAsyncUse(bytes), undefined);
  });

  test('a lift with the async option and a callback is found', () => {
    assert.equal(componentAsyncUse(component(canon(liftWith([0x06], [0x07, 0x01])))), 'a function lifted with the async option');
  });

  test('a lower with the async option is found', () => {
    assert.equal(componentAsyncUse(component(canon([0x01, 0x00, 0x02, 0x02, 0x06, 0x03, 0x00]))), 'a function lowered with the async option');
  });

  test('an async built-in is named, after the synchronous entries before it', () => {
    assert.equal(componentAsyncUse(component(canon([0x02, 0x00], [0x09, 0x01, 0x00, 0x00]))), 'the async built-in task.return');
    assert.equal(componentAsyncUse(component(canon([0x0e, 0x03]))), 'the async built-in stream.new');
    assert.equal(componentAsyncUse(component(canon([0x1f]))), 'the async built-in waitable-set.new');
  });

  test('a canonical opcode it does not know, such as a thread built-in, is reported as unknown', () => {
    assert.equal(componentAsyncUse(component(canon([0x40, 0x00, 0x00]))), 'the canonical built-in 0x40, which Verge does not know');
  });

  test('async use inside a nested component is found', () => {
    assert.equal(componentAsyncUse(component(canon(liftWith([0x00])), nested(canon([0x0d])))), 'the async built-in subtask.drop');
  });

  test('a section that runs past the end of the component is malformed', () => {
    assert.throws(() => componentAsyncUse(Uint8Array.from([...component(), 0x08, 0x09, 0x01])), vergeError('MODULE_INVALID', /runs past the end/));
  });
});

test('componentAsyncUse refuses components nested deeper than MAX_NESTING instead of recursing without end', () => {
  let inner = component();
  for (let i = 0; i <= MAX_NESTING + 1; i++) inner = component(section(4, [...inner]));
  assert.throws(() => componentAsyncUse(inner), vergeError('MODULE_INVALID', /nested more than 32 deep/));
});
