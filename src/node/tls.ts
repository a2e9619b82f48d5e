/**
 * TLS for a listener: the PEM certificate and key named by a pair of flags, read and checked
 * together before anything listens (and again on each reload), so that a missing, unreadable or
 * malformed file, an encrypted key or a key that belongs to another certificate fails with the flag
 * and the file named instead of an OpenSSL error at the first handshake.
 */
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import tls from 'node:tls';
import { VergeError } from '../errors.js';

/** The files of one listener. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** The flags that name a listener's files, for messages. */
export interface TlsFlags {
  readonly cert: string;
  readonly key: string;
}

export const PUBLIC_TLS_FLAGS: TlsFlags = Object.freeze({ cert: '--tls-cert', key: '--tls-key' });
export const ADMIN_TLS_FLAGS: TlsFlags = Object.freeze({ cert: '--admin-tls-cert', key: '--admin-tls-key' });

/** A certificate chain and its key are a few KiB; anything far larger is the wrong file. */
export const MAX_PEM_BYTES = 1024 * 1024;

export interface TlsMaterial {
  /** What tls.Server takes, at creation and in setSecureContext: the same two keys both times. */
  readonly context: { readonly cert: Buffer; readonly key: Buffer };
  /** The leaf (first) certificate of the chain. */
  readonly certificate: X509Certificate;
}

function invalid(message: string, cause?: unknown): VergeError {
  return new VergeError('TLS_CONFIG_INVALID', message, { cause });
}

/** Both files or neither: one without the other is a start-up error naming the missing flag. */
export function tlsFilesFrom(cert: string | undefined, key: string | undefined, flags: TlsFlags): TlsFiles | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined) throw invalid(`${flags.key} is given without ${flags.cert}: TLS needs both the certificate and its key`);
  if (key === undefined) throw invalid(`${flags.cert} is given without ${flags.key}: TLS needs both the certificate and its key`);
  return { cert, key };
}

function readPem(file: string, flag: string): Buffer {
  try {
    const stat = statSync(file);
    if (!stat.isFile()) throw invalid(`${flag} ${file}: not a file`);
    if (stat.size > MAX_PEM_BYTES) throw invalid(`${flag} ${file}: ${stat.size} bytes, larger than a PEM file can be here (${MAX_PEM_BYTES} bytes); is it the right file?`);
    return readFileSync(file);
  } catch (err) {
    if (err instanceof VergeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(err));
    throw invalid(`${flag} ${file}: cannot read it: ${why}`, err);
  }
}

function parseCertificate(pem: Buffer, file: string, flag: string): X509Certificate {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw invalid(`${flag} ${file}: not a PEM certificate (expected a "-----BEGIN CERTIFICATE-----" block)`);
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw invalid(`${flag} ${file}: the certificate cannot be parsed: ${(err as Error).message}`, err);
  }
}

function parseKey(pem: Buffer, file: string, flag: string): KeyObject {
  const text = pem.toString('latin1');
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) {
    throw invalid(`${flag} ${file}: not a PEM private key (expected a "-----BEGIN PRIVATE KEY-----" block or a "-----BEGIN RSA/EC PRIVATE KEY-----" one)`);
  }
  // PKCS#8 says so in its label, the older OpenSSL form in a Proc-Type header; a start asks no one for a passphrase.
  if (text.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----') || /^Proc-Type: 4,ENCRYPTED/m.test(text)) {
    throw invalid(`${flag} ${file}: the key is encrypted with a passphrase; give an unencrypted key (openssl pkey -in ${file} -out plain.key)`);
  }
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw invalid(`${flag} ${file}: the key cannot be parsed: ${(err as Error).message}`, err);
  }
}

/** Reads and checks one listener's pair; throws TLS_CONFIG_INVALID naming the flag, the file and the fault. */
export function loadTls(files: TlsFiles, flags: TlsFlags): TlsMaterial {
  const cert = readPem(files.cert, flags.cert);
  const key = readPem(files.key, flags.key);
  const certificate = parseCertificate(cert, files.cert, flags.cert);
  const keyObject = parseKey(key, files.key, flags.key);
  if (!certificate.checkPrivateKey(keyObject)) {
    throw invalid(`${flags.key} ${files.key} is not the key of the certificate in ${flags.cert} ${files.cert} (${certificate.subject.replace(/\n/g, ', ')})`);
  }
  const context = { cert, key };
  try {
    // What the checks above do not see (an unusable chain, a key type OpenSSL refuses) shows here, at load.
    tls.createSecureContext(context);
  } catch (err) {
    throw invalid(`${flags.cert} ${files.cert} with ${flags.key} ${files.key}: OpenSSL refuses the pair: ${(err as Error).message}`, err);
  }
  return { context, certificate };
}

/** What the log says about a certificate in use. */
export function describeCertificate(certificate: X509Certificate): { subject: string; valid_to: string; sha256: string } {
  return { subject: certificate.subject.replace(/\n/g, ', '), valid_to: certificate.validTo, sha256: certificate.fingerprint256 };
}
