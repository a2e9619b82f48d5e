import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { D, Decl, T, exporting, importing } from '../../test/support/component-type-bytes.js';
import { force, readComponentTypes, type Extern, type InstanceType, type ValType } from './component-types.js';
import { MAX_DIFFERENCES, diffInstances, render, unlinkable } from './component-type-diff.js';

const IFACE = 'acme:auth/verify@0.1.0';
const SIDES = { importer: "api's import", exporter: "auth's export" };

const instance = (e: Extern | undefined): InstanceType => (e as Extract<Extern, { sort: 'instance' }>).type;
const required = (decls: number[][]) => instance(readComponentTypes(importing(IFACE, decls)).imports.get(IFACE));
const provided = (defs: number[][], exports: Array<{ name: string; func?: number; type?: number }>) => instance(force(readComponentTypes(exporting(IFACE, defs, exports)).exports.get(IFACE)!));

/** The interface of the tests, as api imports it: claims, and verify returning result<claims, string>. */
function claimsImport(scopes: number[] = D.list(T.string)): InstanceType {
  return required([
    Decl.type(scopes),
    Decl.type(D.record([['subject', T.string], ['scopes', T.ref(0)]])),
    Decl.exportType('claims', 1),
    Decl.type(D.result(T.ref(2), T.string)),
    Decl.type(D.func([['token', T.string]], T.ref(3))),
    Decl.exportFunc('verify', 4),
  ]);
}

/** The same interface as auth exports it, with `verify`'s parameters and the scopes' type to vary. */
function claimsExport(opts: { params?: Array<[string, number[]]>; scopes?: number[]; extra?: boolean } = {}): InstanceType {
  const defs = [opts.scopes ?? D.list(T.string), D.record([['subject', T.string], ['scopes', T.ref(0)]]), D.result(T.ref(1), T.string), D.func(opts.params ?? [['token', T.string]], T.ref(2)), D.func([], T.bool)];
  return provided(defs, [{ name: 'claims', type: 1 }, { name: 'verify', func: 3 }, ...(opts.extra ? [{ name: 'ping', func: 4 }] : [])]);
}

describe('diffInstances', () => {
  test('finds no difference between an import and an export of the same interface, even when the export holds more', () => {
    assert.deepEqual(diffInstances(claimsImport(), claimsExport(), SIDES), []);
    assert.deepEqual(diffInstances(claimsImport(), claimsExport({ extra: true }), SIDES), []);
  });

  test('names a function the export lacks', () => {
    const only = provided([D.func([], T.bool)], [{ name: 'ping', func: 0 }]);
    assert.deepEqual(diffInstances(claimsImport(), only, SIDES), ["type claims is missing from auth's export", "function verify is missing from auth's export"]);
  });

  test('names the parameter whose type differs, with both types', () => {
    assert.deepEqual(diffInstances(claimsImport(), claimsExport({ params: [['token', T.u32]] }), SIDES), ["function verify: parameter token: string in api's import, u32 in auth's export"]);
  });

  test('names a parameter named differently, and a different number of parameters', () => {
    assert.deepEqual(diffInstances(claimsImport(), claimsExport({ params: [['jwt', T.string]] }), SIDES), ["function verify: parameter 1: is named token in api's import, jwt in auth's export"]);
    assert.deepEqual(diffInstances(claimsImport(), claimsExport({ params: [['token', T.string], ['strict', T.bool]] }), SIDES), [
      "function verify: takes 1 parameter (token: string) in api's import, 2 parameters (token: string, strict: bool) in auth's export",
    ]);
  });

  test('follows a difference inside a result, a record and a list to the type that differs', () => {
    const d = diffInstances(claimsImport(), claimsExport({ scopes: D.list(T.u32) }), SIDES);
    assert.deepEqual(d, ["type claims: field scopes element: string in api's import, u32 in auth's export", "function verify: result ok field scopes element: string in api's import, u32 in auth's export"]);
  });

  test('tells records apart by their field names, variants by their cases, and enums and flags by their names in order', () => {
    const pairs: Array<[number[], number[]]> = [
      [D.record([['a', T.u32]]), D.record([['b', T.u32]])],
      [D.variant([['a', T.u32], ['b', undefined]]), D.variant([['a', T.u32], ['b', T.u32]])],
      [D.enum(['x', 'y']), D.enum(['y', 'x'])],
      [D.flags(['x']), D.flags(['x', 'y'])],
      [D.option(T.string), D.result(T.string, undefined)],
      [D.tuple([T.u32, T.u32]), D.tuple([T.u32])],
    ];
    for (const [a, b] of pairs) {
      const want = required([Decl.type(a), Decl.type(D.func([], T.ref(0))), Decl.exportFunc('f', 1)]);
      const got = provided([b, D.func([], T.ref(0))], [{ name: 'f', func: 1 }]);
      const d = diffInstances(want, got, SIDES);
      assert.equal(d.length, 1, `${JSON.stringify(a)} against ${JSON.stringify(b)}: ${d.join('; ')}`);
      assert.match(d[0]!, /^function f: result/);
      const same = provided([a, D.func([], T.ref(0))], [{ name: 'f', func: 1 }]);
      assert.deepEqual(diffInstances(want, same, SIDES), []);
    }
  });

  test('reports at most a bounded number of differences', () => {
    const decls = Array.from({ length: 20 }, (_, i) => Decl.exportFunc(`f${i}`, 0));
    const want = required([Decl.type(D.func([])), ...decls]);
    const got = provided([D.func([])], []);
    assert.equal(diffInstances(want, got, SIDES).length, MAX_DIFFERENCES);
  });
});

describe('unlinkable', () => {
  test('names a resource an interface uses, with the function that uses it', () => {
    const want = required([Decl.exportResource('session'), Decl.type(D.own(0)), Decl.type(D.func([], T.ref(1))), Decl.exportFunc('open', 2)]);
    assert.equal(unlinkable(want), 'the resource type session');
    const viaBorrow = required([Decl.type(D.func([['s', T.u32]])), Decl.exportFunc('a', 0), Decl.exportResource('file'), Decl.type(D.borrow(1)), Decl.type(D.list(T.ref(2))), Decl.type(D.func([['fs', T.ref(3)]])), Decl.exportFunc('close', 4)]);
    assert.equal(unlinkable(viaBorrow), 'the resource type file');
  });

  test('names async functions, streams and error contexts', () => {
    const cases: Array<[number[][], RegExp]> = [
      [[Decl.type(D.asyncFunc([])), Decl.exportFunc('later', 0)], /^function later: it is an async function$/],
      [[Decl.type(D.stream(T.u8)), Decl.type(D.func([], T.ref(0))), Decl.exportFunc('s', 1)], /^a stream \(stream<u8>\), used by function s$/],
      [[Decl.type(D.func([['e', T.errorContext]])), Decl.exportFunc('fail', 0)], /^an error-context, used by function fail$/],
    ];
    for (const [decls, expected] of cases) assert.match(unlinkable(required(decls)) ?? '', expected);
  });

  test('finds nothing to refuse in an interface of records, variants, lists and strings', () => {
    assert.equal(unlinkable(claimsImport()), undefined);
  });
});

describe('render and comparison of shared types', () => {
  test('compare and render types that share parts exponentially often, in bounded time and length', () => {
    // tuple<t, t> forty deep: 2^40 leaves as a tree, 40 nodes as written.
    let t: ValType = { kind: 'primitive', primitive: 'u32' };
    let u: ValType = { kind: 'primitive', primitive: 'u32' };
    for (let i = 0; i < 40; i++) {
      t = { kind: 'tuple', types: [t, t] };
      u = { kind: 'tuple', types: [u, u] };
    }
    const started = performance.now();
    const want: InstanceType = { kind: 'instance', exports: new Map([['x', { sort: 'type', type: t }]]) };
    const got: InstanceType = { kind: 'instance', exports: new Map([['x', { sort: 'type', type: u }]]) };
    assert.deepEqual(diffInstances(want, got, SIDES), []);
    assert.equal(unlinkable(want), undefined);
    assert.ok(render(t).length <= 160);
    assert.ok(performance.now() - started < 1000);
  });
});
