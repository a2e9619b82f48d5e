import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { isVergeError } from '../errors.js';
import { ADMIN_TLS_FLAGS, PUBLIC_TLS_FLAGS, loadTls, tlsFilesFrom, type TlsFlags } from './tls.js';
import { selfSigned, tempDir, type TestCertificate } from '../../test/support/tls.js';

function refusal(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(isVergeError(err, 'TLS_CONFIG_INVALID'), `expected TLS_CONFIG_INVALID, got ${String(err)}`);
    return err.message;
  }
  assert.fail('expected TLS_CONFIG_INVALID, nothing was thrown');
}

describe('TLS files', () => {
  let dir: string;
  let server: TestCertificate;
  let other: TestCertificate;
  before(() => {
    dir = tempDir();
    server = selfSigned(dir, 'server');
    other = selfSigned(dir, 'other', 'other.test');
  });

  test('a certificate and its key load, with the certificate read for the log', () => {
    const material = loadTls({ cert: server.cert, key: server.key }, PUBLIC_TLS_FLAGS);
    assert.equal(material.certificate.subject, 'CN=localhost');
    assert.ok(material.context.cert.equals(server.pem));
  });

  test('neither flag means no TLS; one without the other names the missing flag', () => {
    assert.equal(tlsFilesFrom(undefined, undefined, PUBLIC_TLS_FLAGS), undefined);
    assert.match(refusal(() => tlsFilesFrom('c.pem', undefined, PUBLIC_TLS_FLAGS)), /^--tls-cert is given without --tls-key/);
    assert.match(refusal(() => tlsFilesFrom(undefined, 'k.pem', ADMIN_TLS_FLAGS)), /^--admin-tls-key is given without --admin-tls-cert/);
  });

  const cases: Array<[string, () => { cert: string; key: string }, TlsFlags, RegExp]> = [
    ['a missing certificate', () => ({ cert: path.join(dir, 'absent.crt'), key: server.key }), PUBLIC_TLS_FLAGS, /^--tls-cert \S+absent\.crt: cannot read it: no such file$/],
    ['a missing key', () => ({ cert: server.cert, key: path.join(dir, 'absent.key') }), ADMIN_TLS_FLAGS, /^--admin-tls-key \S+absent\.key: cannot read it: no such file$/],
    ['a folder', () => ({ cert: dir, key: server.key }), PUBLIC_TLS_FLAGS, /^--tls-cert \S+: not a file$/],
    ['a key given as the certificate', () => ({ cert: server.key, key: server.key }), PUBLIC_TLS_FLAGS, /^--tls-cert \S+server\.key: not a PEM certificate/],
    ['a certificate given as the key', () => ({ cert: server.cert, key: server.cert }), PUBLIC_TLS_FLAGS, /^--tls-key \S+server\.crt: not a PEM private key/],
    ['the key of another certificate', () => ({ cert: server.cert, key: other.key }), PUBLIC_TLS_FLAGS, /^--tls-key \S+other\.key is not the key of the certificate in --tls-cert \S+server\.crt \(CN=localhost\)$/],
  ];
  for (const [what, files, flags, message] of cases) {
    test(`${what} is refused with the flag and the file named`, () => {
      assert.match(refusal(() => loadTls(files(), flags)), message);
    });
  }

  test('a damaged certificate is refused with what OpenSSL found', () => {
    const damaged = path.join(dir, 'damaged.crt');
    writeFileSync(damaged, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    assert.match(refusal(() => loadTls({ cert: damaged, key: server.key }, PUBLIC_TLS_FLAGS)), /^--tls-cert \S+damaged\.crt: the certificate cannot be parsed: /);
  });

  for (const form of ['PKCS#8', 'traditional'] as const) {
    test(`a key encrypted with a passphrase (${form} PEM) is refused with how to decrypt it`, () => {
      const encrypted = path.join(dir, `encrypted-${form === 'PKCS#8' ? 'pkcs8' : form}.key`);
      const traditional = form === 'traditional' ? ['-traditional'] : [];
      execFileSync('openssl', ['pkey', '-in', server.key, '-aes256', '-passout', 'pass:secret', ...traditional, '-out', encrypted], { stdio: 'pipe' });
      assert.match(refusal(() => loadTls({ cert: server.cert, key: encrypted }, PUBLIC_TLS_FLAGS)), /^--tls-key \S+encrypted-\w+\.key: the key is encrypted with a passphrase; give an unencrypted key \(openssl pkey/);
    });
  }
});
