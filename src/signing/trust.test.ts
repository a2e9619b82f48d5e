import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { appendCustomSection, expectCode, guestModule, tempDir, writeFile } from '../../test/support/signing.js';
import { readSigningKey, writeKeyPair } from './keys.js';
import { signManifest, signModule } from './sign.js';
import { loadTrustPolicy, parseRevocations } from './trust.js';

const MODULE = await guestModule();

/** A key pair written to a fresh folder, with its private key read back. */
function keyPair(name: string) {
  const dir = tempDir();
  const written = writeKeyPair(path.join(dir, name));
  return { ...written, key: readSigningKey(written.keyFile) };
}

const alice = keyPair('alice');
const bob = keyPair('bob');
const SIGNED = signModule(MODULE, alice.key, 'web.wasm').module;

describe('loadTrustPolicy', () => {
  test('with no trusted key is inactive and requires nothing, not even a signature', () => {
    const policy = loadTrustPolicy({});
    assert.equal(policy.active, false);
    assert.deepEqual(policy.verifyModule(MODULE, undefined, 'web.wasm'), { signers: [] });
    assert.deepEqual(policy.verifyManifest('x', undefined, 'verge.toml'), { signers: [] });
  });

  test('with --trust-key files is active, lists the keys, and requires a signature by one of them', () => {
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile, bob.publicFile] });
    assert.equal(policy.active, true);
    assert.deepEqual(policy.keys, [
      { keyId: alice.keyId, source: alice.publicFile },
      { keyId: bob.keyId, source: bob.publicFile },
    ]);
    assert.deepEqual(policy.verifyModule(SIGNED, undefined, 'web.wasm').signers, [{ keyId: alice.keyId, source: alice.publicFile }]);
    expectCode('SIGNATURE_MISSING', () => policy.verifyModule(MODULE, undefined, 'web.wasm'));
  });

  test('reads a trust file of PEM keys, and counts a key given twice once', () => {
    const dir = tempDir();
    const trustFile = writeFile(dir, 'trusted.pem', readFileSync(alice.publicFile, 'utf8') + readFileSync(bob.publicFile, 'utf8'), 0o644);
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile], trustFile });
    assert.deepEqual(policy.keys.map((k) => k.keyId), [alice.keyId, bob.keyId]);
    const manifest = '[application]\nname = "x"\n';
    assert.deepEqual(policy.verifyManifest(manifest, signManifest(manifest, bob.key, undefined, 'verge.toml').signature, 'verge.toml').signers.map((s) => s.keyId), [bob.keyId]);
  });

  test('refuses at load a trust file with no key, a key file that is not a public key, and a missing revocation list', () => {
    const dir = tempDir();
    assert.match(expectCode('KEY_INVALID', () => loadTrustPolicy({ trustFile: writeFile(dir, 'empty.pem', '\n', 0o644) })), /empty\.pem: holds no PEM block/);
    assert.match(expectCode('KEY_INVALID', () => loadTrustPolicy({ trustKeyFiles: [alice.keyFile] })), /alice\.key: is a "PRIVATE KEY" block/);
    assert.match(
      expectCode('KEY_INVALID', () => loadTrustPolicy({ trustKeyFiles: [alice.publicFile], revocationFile: path.join(dir, 'revoked.txt') })),
      /revocation list .*revoked\.txt: cannot read it \(ENOENT\); until it is fixed every signature check fails \(an empty file revokes nothing\)/,
    );
  });
});

describe('the revocation list', () => {
  test('revokes a key while the node runs: the next verification after the file is rewritten refuses it, and accepts it again once it is removed', () => {
    const dir = tempDir();
    const revocationFile = writeFile(dir, 'revoked.txt', '# nothing revoked yet\n', 0o644);
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile], revocationFile });
    assert.deepEqual(policy.verifyModule(SIGNED, undefined, 'web.wasm').signers.map((s) => s.keyId), [alice.keyId]);

    writeFileSync(revocationFile, `# leaked on 1 Dec\n${alice.keyId}\n`);
    const message = expectCode('KEY_REVOKED', () => policy.verifyModule(SIGNED, undefined, 'web.wasm'));
    assert.ok(message.includes(`signed by key ${alice.keyId}, revoked on this node (${revocationFile})`), message);
    assert.deepEqual([...policy.revokedKeyIds()], [alice.keyId]);

    writeFileSync(revocationFile, '# restored\n');
    assert.equal(policy.verifyModule(SIGNED, undefined, 'web.wasm').signers.length, 1);
  });

  test('notices a rewrite of the same size, and an append', () => {
    const dir = tempDir();
    const revocationFile = writeFile(dir, 'revoked.txt', `${bob.keyId}\n`, 0o644);
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile, bob.publicFile], revocationFile });
    policy.verifyModule(SIGNED, undefined, 'web.wasm');
    writeFileSync(revocationFile, `${alice.keyId}\n`);
    expectCode('KEY_REVOKED', () => policy.verifyModule(SIGNED, undefined, 'web.wasm'));
    writeFileSync(revocationFile, '');
    policy.verifyModule(SIGNED, undefined, 'web.wasm');
    appendFileSync(revocationFile, `${alice.keyId}  # appended\n`);
    expectCode('KEY_REVOKED', () => policy.verifyModule(SIGNED, undefined, 'web.wasm'));
  });

  test('refuses every module while it is malformed or missing, instead of forgetting revocations', () => {
    const dir = tempDir();
    const revocationFile = writeFile(dir, 'revoked.txt', '', 0o644);
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile], revocationFile });
    writeFileSync(revocationFile, `${alice.keyId}\nnot-a-key-id\n`);
    assert.match(expectCode('KEY_INVALID', () => policy.verifyModule(SIGNED, undefined, 'web.wasm')), /revoked\.txt: line 2: "not-a-key-id" is not a key id; expected 24 hex digits/);
    rmSync(revocationFile);
    assert.match(expectCode('KEY_INVALID', () => policy.verifyModule(SIGNED, undefined, 'web.wasm')), /cannot read it \(ENOENT\)/);
    writeFileSync(revocationFile, '');
    assert.equal(policy.verifyModule(SIGNED, undefined, 'web.wasm').signers.length, 1);
  });

  test('parses one key id per line, in any case, with comments and blank lines', () => {
    assert.deepEqual([...parseRevocations('r', `\n# header\n${alice.keyId.toUpperCase()}   # why\n\n${bob.keyId}\n`)], [alice.keyId, bob.keyId]);
  });
});

describe('verification on load from disk', () => {
  test('refuses a stored module that someone edited or extended after it was accepted', () => {
    const dir = tempDir();
    const stored = writeFile(dir, 'web.wasm', SIGNED, 0o644);
    const policy = loadTrustPolicy({ trustKeyFiles: [alice.publicFile] });
    assert.equal(policy.verifyModule(readFileSync(stored), undefined, stored).signers.length, 1);

    const edited = Buffer.from(readFileSync(stored).toString('latin1').replace('signed hello', 'signed HELLO'), 'latin1');
    writeFileSync(stored, edited);
    assert.match(expectCode('SIGNATURE_INVALID', () => policy.verifyModule(readFileSync(stored), undefined, stored)), /the module changed after it was signed/);

    writeFileSync(stored, appendCustomSection(SIGNED, 'injected', 'x'));
    expectCode('SIGNATURE_INVALID', () => policy.verifyModule(readFileSync(stored), undefined, stored));
  });
});
