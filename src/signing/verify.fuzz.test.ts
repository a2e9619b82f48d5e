/**
 * Property-based tests of verification, what an upload reaches before anything is compiled: any
 * change to a signed module or to its signature data is refused with one of the stable codes
 * (never accepted, never another kind of error), and arbitrary bytes as signature data are refused
 * the same way. `npm run fuzz` sets FUZZ_RUNS for a long run.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fuzzParameters } from '../../test/support/fuzz.js';
import { guestModule, testKey, trustOf } from '../../test/support/signing.js';
import { VergeError } from '../errors.js';
import { signModule, signModuleDetached } from './sign.js';
import { verifyModuleSignature } from './verify.js';

const REFUSALS = new Set(['SIGNATURE_MISSING', 'SIGNATURE_INVALID', 'SIGNATURE_UNSUPPORTED', 'SIGNATURE_UNTRUSTED', 'KEY_REVOKED', 'MODULE_INVALID']);
const alice = testKey('alice');
const MODULE = await guestModule();
const SIGNED = signModule(MODULE, alice, 'g').module;
const DETACHED = signModuleDetached(MODULE, alice, undefined, 'g').signature;
const TRUST = trustOf([alice]);

/** The code verification refused with; fails the property on acceptance or on any other error. */
function refusal(bytes: Uint8Array, detached: Uint8Array | undefined): string {
  try {
    verifyModuleSignature(bytes, detached, TRUST, 'fuzzed.wasm');
  } catch (err) {
    if (!(err instanceof VergeError)) throw new Error(`not a VergeError: ${String(err)}`, { cause: err });
    assert.ok(REFUSALS.has(err.code), err.code);
    return err.code;
  }
  assert.fail('a changed module or signature was accepted');
}

/** A copy of `bytes` with one byte at `at` (modulo the length) xored with a non-zero `mask`. */
function mutate(bytes: Uint8Array, at: number, mask: number): Uint8Array {
  const out = Uint8Array.from(bytes);
  const i = at % out.length;
  out[i] = out[i]! ^ mask;
  return out;
}

describe('verifyModuleSignature under mutation', () => {
  test('refuses a signed module with any one byte changed, anywhere after the header', () => {
    fc.assert(
      fc.property(fc.integer({ min: 8, max: SIGNED.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        refusal(mutate(SIGNED, at, mask), undefined);
      }),
      fuzzParameters(),
    );
  });

  test('refuses a detached signature with any one byte changed', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 1, max: 255 }), (at, mask) => {
        refusal(MODULE, mutate(DETACHED, at, mask));
      }),
      fuzzParameters(),
    );
  });

  test('refuses arbitrary bytes as a detached signature, and bytes appended to a signed module', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 1, maxLength: 40 }), (signature, tail) => {
        refusal(MODULE, signature);
        refusal(Uint8Array.from([...SIGNED, ...tail]), undefined);
      }),
      fuzzParameters(),
    );
  });
});
