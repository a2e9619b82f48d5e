import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { RFC8032_KEY_ID, RFC8032_PUBLIC, expectCode, flipByte, tempDir, wasmsign2KeyPair, writeFile } from '../../test/support/signing.js';
import { generateSigningKey, keyIdOf, rawPublicKey, readPublicKey, readPublicKeys, readSigningKey, writeKeyPair } from './keys.js';

describe('key ids', () => {
  test("are wasmsign2's default key id: HMAC-SHA256 keyed with the public key over \"key_id\", first 12 bytes, in hex", () => {
    const dir = tempDir();
    const key = readPublicKey(writeFile(dir, 'rfc.pub', Buffer.from('01' + RFC8032_PUBLIC, 'hex')));
    assert.equal(key.keyId, RFC8032_KEY_ID);
    assert.equal(rawPublicKey(key.publicKey).toString('hex'), RFC8032_PUBLIC);
  });

  test('are the same for a key however it is stored', () => {
    const dir = tempDir();
    const { publicFile, keyId } = writeKeyPair(path.join(dir, 'k'));
    assert.equal(readPublicKey(publicFile).keyId, keyId);
    assert.equal(readSigningKey(path.join(dir, 'k.key')).keyId, keyId);
    assert.equal(keyIdOf(readPublicKey(publicFile).publicKey), keyId);
  });
});

describe('writeKeyPair', () => {
  test('writes PREFIX.key as PKCS#8 PEM with mode 0600 and PREFIX.pub as SPKI PEM', () => {
    const dir = tempDir();
    const written = writeKeyPair(path.join(dir, 'team'));
    assert.equal(written.keyFile, path.join(dir, 'team.key'));
    assert.equal(statSync(written.keyFile).mode & 0o777, 0o600);
    assert.match(readFileSync(written.keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(readFileSync(written.publicFile, 'utf8'), /^-----BEGIN PUBLIC KEY-----\n/);
    assert.match(written.keyId, /^[0-9a-f]{24}$/);
  });

  test('refuses to overwrite either file and leaves both as they were', () => {
    const dir = tempDir();
    const first = writeKeyPair(path.join(dir, 'team'));
    const before = readFileSync(first.keyFile, 'utf8');
    assert.match(expectCode('KEY_INVALID', () => writeKeyPair(path.join(dir, 'team'))), /team\.key: already exists; Verge never overwrites a key file/);
    assert.equal(readFileSync(first.keyFile, 'utf8'), before);

    const other = path.join(dir, 'other');
    writeFile(dir, 'other.pub', 'someone else\n', 0o644);
    assert.match(expectCode('KEY_INVALID', () => writeKeyPair(other)), /other\.pub: already exists/);
    assert.equal(existsSync(`${other}.key`), false, 'no private key is left behind without its public key');
  });
});

describe('readSigningKey', () => {
  test("reads wasmsign2's raw key pair, and signs as the same key", () => {
    const dir = tempDir();
    const key = readSigningKey(writeFile(dir, 'wasmsign2.sk', wasmsign2KeyPair()));
    assert.equal(key.keyId, RFC8032_KEY_ID);
  });

  test('refuses a private key that group or others can read, and says how to fix it', () => {
    const dir = tempDir();
    const { keyFile } = writeKeyPair(path.join(dir, 'k'));
    writeFile(dir, 'k.key', readFileSync(keyFile), 0o644);
    assert.match(expectCode('KEY_INVALID', () => readSigningKey(keyFile)), /k\.key: is a private key readable by others \(mode 0644\); run chmod 600 /);
  });

  test('refuses a non-Ed25519 key, an encrypted key, a public key and a wasmsign2 pair whose halves differ', () => {
    const dir = tempDir();
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
    assert.match(expectCode('KEY_INVALID', () => readSigningKey(writeFile(dir, 'rsa.key', rsa))), /is a rsa key; Verge signs with Ed25519 keys/);
    const encrypted = generateSigningKey().privateKey.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'x' }) as string;
    assert.match(expectCode('KEY_INVALID', () => readSigningKey(writeFile(dir, 'enc.key', encrypted))), /encrypted with a passphrase/);
    const { publicFile } = writeKeyPair(path.join(dir, 'k'));
    assert.match(expectCode('KEY_INVALID', () => readSigningKey(writeFile(dir, 'pub-as-key', readFileSync(publicFile)))), /is not a PEM private key/);
    const mismatched = flipByte(wasmsign2KeyPair(), 40);
    assert.match(expectCode('KEY_INVALID', () => readSigningKey(writeFile(dir, 'bad.sk', mismatched))), /public half does not match its secret half/);
  });

  test('refuses a missing file, naming it', () => {
    assert.match(expectCode('KEY_INVALID', () => readSigningKey('/nonexistent/verge.key')), /^\/nonexistent\/verge\.key: cannot read the key file \(ENOENT\)/);
  });
});

describe('readPublicKey and readPublicKeys', () => {
  test('refuse a private key given where a public key is expected', () => {
    const dir = tempDir();
    const { keyFile } = writeKeyPair(path.join(dir, 'k'));
    assert.match(expectCode('KEY_INVALID', () => readPublicKey(keyFile)), /is a "PRIVATE KEY" block; expected "PUBLIC KEY" .*trust the \.pub file, never the private key/);
    assert.match(expectCode('KEY_INVALID', () => readPublicKey(writeFile(dir, 'w.sk', wasmsign2KeyPair()))), /is a wasmsign2 secret key/);
  });

  test('read every key of a PEM bundle, with comments between them, and refuse a file with none', () => {
    const dir = tempDir();
    const a = writeKeyPair(path.join(dir, 'a'));
    const b = writeKeyPair(path.join(dir, 'b'));
    const bundle = `# team A\n${readFileSync(a.publicFile, 'utf8')}\n# team B\n${readFileSync(b.publicFile, 'utf8')}`;
    const file = writeFile(dir, 'trusted.pem', bundle, 0o644);
    assert.deepEqual(readPublicKeys(file).map((k) => [k.keyId, k.source]), [[a.keyId, `${file} (key 1)`], [b.keyId, `${file} (key 2)`]]);
    assert.match(expectCode('KEY_INVALID', () => readPublicKey(file)), /holds 2 public keys; a key file holds one/);
    assert.match(expectCode('KEY_INVALID', () => readPublicKeys(writeFile(dir, 'empty.pem', '# nobody yet\n'))), /holds no PEM block/);
  });
});
