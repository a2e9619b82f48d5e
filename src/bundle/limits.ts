/**
 * The caps a bundle must fit, in one place. Packing checks them before writing anything;
 * unpacking checks them while the bytes stream, so a hostile upload is refused after reading
 * about the cap, never after inflating or writing everything.
 */
import { VergeError } from '../errors.js';
import { MAX_MODULE_BYTES } from '../manifest/config.js';

export interface BundleLimits {
  /** One file's bytes. */
  maxFileBytes: number;
  /** All files' bytes together, uncompressed. */
  maxTotalBytes: number;
  /** Files and folders, a folder counted whether the archive lists it or only a file's path needs it. */
  maxEntries: number;
  /** The gzip stream as uploaded. */
  maxCompressedBytes: number;
}

const MIB = 1024 * 1024;

export const DEFAULT_BUNDLE_LIMITS: Readonly<BundleLimits> = Object.freeze({
  // A module bigger than this would be refused at load anyway.
  maxFileBytes: MAX_MODULE_BYTES,
  maxTotalBytes: 256 * MIB,
  maxEntries: 1000,
  maxCompressedBytes: 256 * MIB,
});

/** The defaults with `overrides` on top, each checked, frozen. */
export function bundleLimits(overrides: Partial<BundleLimits> = {}): Readonly<BundleLimits> {
  const limits = { ...DEFAULT_BUNDLE_LIMITS, ...overrides };
  for (const [key, value] of Object.entries(limits)) {
    // A programming error, not a hostile bundle: the caller passed these.
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`bundle limit ${key}: expected a positive integer, got ${String(value)}`);
  }
  return Object.freeze(limits);
}

export function tooLarge(message: string): VergeError {
  return new VergeError('BUNDLE_TOO_LARGE', message);
}
