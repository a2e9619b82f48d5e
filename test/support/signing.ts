/** Modules, keys and an error matcher shared by the signing tests (src/signing, test/e2e/signing). */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VergeError } from '../../src/errors.js';
import { encodeU32 } from '../../src/wasm/binary.js';
import { generateSigningKey, type SigningKey } from '../../src/signing/keys.js';
import type { TrustView } from '../../src/signing/verify.js';
import { componentImporting } from './component-bytes.js';
import { FD_WRITE, respondWith, wat } from './wat.js';

/** A WAGI module with code, a data segment and a custom section: something to tamper with. */
export async function guestModule(text = 'status: 200\ncontent-type: text/plain\n\nsigned hello\n'): Promise<Uint8Array> {
  const bytes = await wat(`(module ${FD_WRITE} (memory 1) ${respondWith(text)} (func (export "_start") (call $respond)))`);
  return appendCustomSection(bytes, 'producers-note', 'built for the signing tests');
}

/** A real component (an empty instance type imported as wasi:http/types), in the component binary format. */
export const guestComponent = (): Uint8Array => componentImporting(['wasi:http/types@0.2.0']);

export function customSection(name: string, content: string | Uint8Array): Uint8Array {
  const n = Buffer.from(name);
  const body = Buffer.concat([Buffer.from(encodeU32(n.length)), n, Buffer.from(content)]);
  return Buffer.concat([Uint8Array.of(0), Buffer.from(encodeU32(body.length)), body]);
}

export function appendCustomSection(bytes: Uint8Array, name: string, content: string | Uint8Array): Uint8Array {
  return Buffer.concat([bytes, customSection(name, content)]);
}

export function trustOf(keys: SigningKey[], revoked: string[] = []): TrustView {
  return { keys, revoked: new Set(revoked) };
}

/** A fresh key pair; `name` is its source in messages. */
export const testKey = (name: string): SigningKey => generateSigningKey(name);

/** A copy of `bytes` with bit 0 of byte `at` flipped (from the end when negative). */
export function flipByte(bytes: Uint8Array, at: number): Buffer {
  const out = Buffer.from(bytes);
  const i = at < 0 ? out.length + at : at;
  out[i] = out[i]! ^ 0x01;
  return out;
}

/** Runs `fn`, expects a VergeError with `code`, and returns its message. */
export function expectCode(code: string, fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof VergeError, `expected a VergeError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err.message;
  }
  assert.fail(`expected a ${code} error, but nothing was thrown`);
}

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'verge-signing-'));
}

/** Writes `bytes` to `dir/name` with `mode`, returning the path. */
export function writeFile(dir: string, name: string, bytes: string | Uint8Array, mode = 0o600): string {
  const file = path.join(dir, name);
  writeFileSync(file, bytes);
  chmodSync(file, mode);
  return file;
}

/** RFC 8032 section 7.1, test 1. Its key id was computed apart, with `openssl dgst -sha256 -mac HMAC -macopt hexkey:PUBLIC` over "key_id". */
export const RFC8032_SECRET = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
export const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
export const RFC8032_KEY_ID = '58fb94a6933f01b8b7707a8b';

/** The key pair file `wasmsign2 keygen` writes: 0x81 ‖ secret ‖ public. */
export const wasmsign2KeyPair = () => Buffer.from('81' + RFC8032_SECRET + RFC8032_PUBLIC, 'hex');
