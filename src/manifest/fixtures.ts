/** Test helpers for manifests that must be refused. */
import assert from 'node:assert/strict';
import { isVergeError } from '../errors.js';
import { parseManifest } from './load.js';

/** Runs `fn`, expects a MANIFEST_INVALID VergeError and returns its message. */
export function manifestError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(isVergeError(err, 'MANIFEST_INVALID'), `expected MANIFEST_INVALID, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected the manifest to be refused');
}

/** The problems `text` (read as `file`) is refused with, one a line. */
export function manifestProblems(text: string, file: string): string {
  return manifestError(() => parseManifest(text, file));
}
