/** Throwaway self-signed certificates for TLS tests, made with the openssl command line. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCertificate {
  cert: string;
  key: string;
  /** The certificate's PEM, to trust it as a CA in a client. */
  pem: Buffer;
}

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'verge-tls-'));
}

/**
 * A P-256 certificate for localhost and 127.0.0.1 (an EC key is made in milliseconds, an RSA one
 * can take a second), written as NAME.crt and NAME.key in `dir`.
 */
export function selfSigned(dir: string, name = 'server', commonName = 'localhost'): TestCertificate {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${commonName}`,
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', key, '-out', cert],
    { stdio: 'pipe' },
  );
  return { cert, key, pem: readFileSync(cert) };
}
