/** An assert.rejects/throws check for a VergeError, saying what came instead when it is not one. */
import assert from 'node:assert/strict';
import { isVergeError, type ErrorCode } from '../../src/errors.js';

export function vergeError(code: ErrorCode, message: RegExp): (err: unknown) => true {
  return (err) => {
    assert.ok(isVergeError(err, code), `expected ${code}, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  };
}
