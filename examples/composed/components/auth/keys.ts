/**
 * The verifier's keys, read when a token needs them: the HS256 secret from the variable
 * `jwt_secret` (wasi:config, `secret = true` in verge.toml), the Ed25519 public key from the
 * mounted file /keys/ed25519.pub (wasi:filesystem, read-only). As middleware the component has
 * its own grants; as the api's dependency it reads them only if its entry inherits `variables`
 * and `files`.
 */
import { get as getVariable } from 'wasi:config/store@0.2.0-draft';
import { getDirectories } from 'wasi:filesystem/preopens@0.2.10';
import type { KeySource } from './jwt.js';
import { ed25519PublicKeyFromPem } from './pem.js';

export const SECRET_VARIABLE = 'jwt_secret';
/** Relative to the preopened `/`: the manifest mounts keys/ at /keys. */
export const PUBLIC_KEY_FILE = 'keys/ed25519.pub';
/** RFC 7518, section 3.2: an HS256 key at least as long as the hash. */
export const MIN_SECRET_BYTES = 32;
const MAX_KEY_FILE_BYTES = 4096;

type KeyResult = ReturnType<KeySource>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A thrown WASI error's payload (`{ tag: 'no-entry' }`), or its message. */
function reason(e: unknown): string {
  const payload = (e as { payload?: unknown } | undefined)?.payload;
  if (payload === undefined) return String((e as Error | undefined)?.message ?? e);
  return typeof payload === 'string' ? payload : JSON.stringify(payload);
}

function hmacSecret(): KeyResult {
  let value: string | undefined;
  try {
    value = getVariable(SECRET_VARIABLE);
  } catch (e) {
    return { ok: false, message: `variable ${SECRET_VARIABLE}: ${reason(e)}` };
  }
  if (value === undefined) return { ok: false, message: `variable ${SECRET_VARIABLE} is not granted or has no value` };
  const key = encoder.encode(value);
  if (key.length < MIN_SECRET_BYTES) return { ok: false, message: `variable ${SECRET_VARIABLE} is ${key.length} bytes; HS256 needs at least ${MIN_SECRET_BYTES}` };
  return { ok: true, key };
}

function ed25519PublicKey(): KeyResult {
  const root = getDirectories().find(([, at]) => at === '/')?.[0];
  if (!root) return { ok: false, message: `no files are mounted; the public key is read from /${PUBLIC_KEY_FILE}` };
  let text: string;
  try {
    const file = root.openAt({}, PUBLIC_KEY_FILE, {}, { read: true });
    try {
      text = decoder.decode(file.read(BigInt(MAX_KEY_FILE_BYTES), 0n)[0]);
    } finally {
      file[Symbol.dispose]();
    }
  } catch (e) {
    return { ok: false, message: `/${PUBLIC_KEY_FILE}: ${reason(e)}` };
  }
  const key = ed25519PublicKeyFromPem(text);
  return key.ok ? key : { ok: false, message: `/${PUBLIC_KEY_FILE}: ${key.message}` };
}

export const keys: KeySource = (algorithm) => (algorithm === 'HS256' ? hmacSecret() : ed25519PublicKey());
