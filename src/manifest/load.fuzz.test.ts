/**
 * The manifest loader against random TOML-ish text and mutations of valid manifests: every input
 * ends as an AppConfig or as MANIFEST_INVALID naming the file on every line, never another
 * exception (`npm run fuzz` runs it longer).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isVergeError } from '../errors.js';
import { fuzzParameters } from '../../test/support/fuzz.js';
import { parseManifest } from './load.js';

const FILE = '/srv/fuzz/verge.toml';

const VALID = [
  '[application]\nname = "shop"\n\n[[route]]\npath = "/api/..."\ncomponent = "api"\n\n[component.api]\nsource = "api.wasm"\n',
  [
    '[application]',
    'name = "edge-api"',
    'version = "1.2.0"',
    'description = "all the parts"',
    '',
    '[variables]',
    'api_key = { required = true, secret = true }',
    'region = { default = "eu" }',
    '',
    '[key_value_stores.cache]',
    'backend = "memory"',
    '',
    '[[route]]',
    'path = "/users/:id"',
    'component = "api"',
    '',
    '[[route]]',
    'path = "/static/..."',
    'component = "files"',
    '',
    '[component.api]',
    'source = "target/api.wasm"',
    'allowed_outbound_hosts = ["https://api.example.com", "http://localhost:8080"]',
    'key_value_stores = ["default", "cache"]',
    'variables = ["api_key", "region"]',
    'limits = { memory_mib = 64, timeout_ms = 2000, max_request_bytes = 1024, max_response_bytes = 4096, outbound_timeout_ms = 500 }',
    'instance_reuse = 1',
    '[component.api.build]',
    'command = "cargo build --release"',
    'workdir = "api"',
    '',
    '[component.files]',
    "source = 'files.wasm'",
    '[component.files.build]',
    'typescript = "src/index.ts"',
    '',
  ].join('\n'),
];

/** Pieces of TOML and of Verge's schema, so random text reaches past the first syntax error. */
const TOKENS = [
  '[', ']', '[[', ']]', '=', '"', "'", '"""', "'''", '\n', '\r\n', ' ', '\t', '.', ',', '{', '}', '#', '\\', '\\u00', '\u0000', '\u0001',
  'application', 'name', 'component', 'route', 'path', 'source', 'limits', 'memory_mib', 'timeout_ms', 'build', 'command', 'typescript',
  'key_value_stores', 'variables', 'allowed_outbound_hosts', 'instance_reuse', 'backend', 'default', 'secret', 'required',
  '__proto__', 'constructor', 'prototype', 'toString', '"/api/..."', '"/:id"', '"/a/.../b"', '"api"', '"x.wasm"',
  '0', '1', '-1', '64.0', '1e3', '0x10', '99999999999999999999', 'true', 'false', 'inf', 'nan', '1979-05-27T07:32:00Z',
  '"🦀"', '"\\ud800"', 'ä', '"a\\nb"', '"\\u001b[31m"', '"\\t"', '"a b"', '"a.b"', '""',
];
const token = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) });
const tomlish = fc.array(token, { maxLength: 80 }).map((parts) => parts.join(''));

type Mutation = { kind: 'delete'; at: number; len: number } | { kind: 'insert'; at: number; text: string } | { kind: 'duplicateLine'; at: number } | { kind: 'swap'; at: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 12 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: token }),
  fc.record({ kind: fc.constant('duplicateLine' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat() }),
);

function mutate(text: string, m: Mutation): string {
  const at = text.length === 0 ? 0 : m.at % text.length;
  switch (m.kind) {
    case 'delete':
      return text.slice(0, at) + text.slice(at + m.len);
    case 'insert':
      return text.slice(0, at) + m.text + text.slice(at);
    case 'duplicateLine': {
      const lines = text.split('\n');
      const i = m.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      return lines.join('\n');
    }
    case 'swap':
      return at + 1 < text.length ? text.slice(0, at) + text[at + 1] + text[at] + text.slice(at + 2) : text;
  }
}

const mutatedManifest = fc
  .tuple(fc.constantFrom(...VALID), fc.array(mutation, { minLength: 1, maxLength: 6 }))
  .map(([text, mutations]) => mutations.reduce(mutate, text));

/** A TOML basic string or quoted key holding any text (JSON's escapes are TOML's). */
const quoted = (s: string) => JSON.stringify(s);
const anyText = fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('api', 'default', 'a\nb', '\u001b[2J', '/x', '', '__proto__', 'constructor'));
const value = fc.oneof(
  anyText.map(quoted),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
  fc.double().map((d) => (Number.isFinite(d) ? (Number.isInteger(d) ? `${d}.0` : String(d)) : 'nan')),
  fc.boolean().map(String),
  fc.array(anyText.map(quoted), { maxLength: 3 }).map((a) => `[${a.join(', ')}]`),
  fc.array(fc.tuple(anyText, anyText), { maxLength: 3 }).map((kv) => `{ ${kv.map(([k, v]) => `${quoted(k)} = ${quoted(v)}`).join(', ')} }`),
);
const KNOWN_KEYS = ['name', 'source', 'path', 'component', 'limits', 'memory_mib', 'key_value_stores', 'variables', 'allowed_outbound_hosts', 'instance_reuse', 'backend', 'default', 'secret', 'required', 'command', 'typescript'];
const key = fc.oneof(fc.constantFrom(...KNOWN_KEYS), anyText.map(quoted));
const entries = fc.array(fc.tuple(key, value).map(([k, v]) => `${k} = ${v}`), { maxLength: 4 });
const TABLES = ['application', 'component.api', 'component.api.limits', 'component.api.build', 'variables', 'key_value_stores.cache'];
const header = fc.oneof(
  fc.constantFrom(...TABLES).map((t) => `[${t}]`),
  fc.constant('[[route]]'),
  fc.tuple(fc.constantFrom('component', 'key_value_stores', 'variables'), anyText).map(([t, n]) => `[${t}.${quoted(n)}]`),
);
/** Manifests built from TOML's grammar with Verge's tables and random names, keys and values. */
const structuredManifest = fc
  .array(fc.tuple(header, entries), { minLength: 1, maxLength: 8 })
  .map((tables) => tables.map(([h, e]) => [h, ...e].join('\n')).join('\n\n') + '\n');

/** The property: an AppConfig for this file, or MANIFEST_INVALID with every line naming the file. */
function loadsOrExplains(text: string): void {
  let app;
  try {
    app = parseManifest(text, FILE);
  } catch (err) {
    assert.ok(isVergeError(err), `not a VergeError: ${err instanceof Error ? err.stack : String(err)}`);
    assert.equal(err.code, 'MANIFEST_INVALID');
    for (const line of err.message.split('\n')) assert.ok(line.startsWith(FILE), `a line of the error does not name the file: ${JSON.stringify(line)}`);
    return;
  }
  assert.equal(app.file, FILE);
  assert.ok(Object.isFrozen(app) && app.routes.length > 0);
}

describe('parseManifest under fuzzing', () => {
  test('the valid seeds load', () => {
    for (const text of VALID) loadsOrExplains(text);
    assert.equal(parseManifest(VALID[1]!, FILE).routes.length, 2);
  });

  test('random TOML-ish text loads or is refused with MANIFEST_INVALID naming the file', () => {
    fc.assert(fc.property(tomlish, loadsOrExplains), fuzzParameters());
  });

  test('manifests built from random tables, keys and values load or are refused with MANIFEST_INVALID naming the file', () => {
    fc.assert(fc.property(structuredManifest, loadsOrExplains), fuzzParameters());
  });

  test('mutations of valid manifests load or are refused with MANIFEST_INVALID naming the file', () => {
    fc.assert(fc.property(mutatedManifest, loadsOrExplains), fuzzParameters());
  });
});
