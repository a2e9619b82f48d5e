import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { sign as signEd25519 } from 'node:crypto';
import { appendCustomSection, customSection, expectCode, flipByte, guestComponent, guestModule, testKey, trustOf } from '../../test/support/signing.js';
import { CONTENT_TYPE, encodeSignatureData, signedMessage, type SignatureData } from './format.js';
import { embedSignature, hashSections, readSections } from './module.js';
import { signManifest, signModule, signModuleDetached } from './sign.js';
import { verifyManifestSignature, verifyModuleSignature } from './verify.js';

const [alice, bob, carol] = [testKey('alice'), testKey('bob'), testKey('carol')];
const MODULE = await guestModule();
const SIGNED = signModule(MODULE, alice, 'g.wasm').module;

/** A copy of `bytes` with the first occurrence of `find` replaced by `replace` (same length). */
function patch(bytes: Uint8Array, find: string | Uint8Array, replace: string | Uint8Array): Uint8Array {
  const out = Buffer.from(bytes);
  const at = out.indexOf(Buffer.from(find));
  assert.ok(at >= 0, `${String(find)} is in the module`);
  Buffer.from(replace).copy(out, at);
  return out;
}

/** The signed module with its embedded signature data rewritten by `edit`. */
function withSignatureData(edit: (data: Buffer) => Uint8Array): Uint8Array {
  const m = readSections(SIGNED, 'g');
  const first = m.sections[0]!;
  const data = Buffer.from(SIGNED.subarray(first.body + first.nameLength, first.end));
  return embedSignature(readSections(MODULE, 'g'), edit(data));
}

const signers = (r: { signers: Array<{ keyId: string }> }) => r.signers.map((s) => s.keyId);

describe('verifyModuleSignature accepts', () => {
  test('a module signed by one trusted key, embedded, and names the signer', () => {
    const r = verifyModuleSignature(SIGNED, undefined, trustOf([alice, bob]), 'g.wasm');
    assert.deepEqual(r.signers, [{ keyId: alice.keyId, source: alice.source }]);
  });

  test('a detached signature over the unsigned module', () => {
    const sig = signModuleDetached(MODULE, alice, undefined, 'g.wasm').signature;
    assert.deepEqual(signers(verifyModuleSignature(MODULE, sig, trustOf([alice]), 'g.wasm')), [alice.keyId]);
  });

  test('several signers, embedded or detached, naming every trusted one and only those', () => {
    const embedded = signModule(SIGNED, bob, 'g.wasm').module;
    assert.deepEqual(signers(verifyModuleSignature(embedded, undefined, trustOf([alice, bob]), 'g.wasm')), [alice.keyId, bob.keyId]);
    assert.deepEqual(signers(verifyModuleSignature(embedded, undefined, trustOf([bob, carol]), 'g.wasm')), [bob.keyId]);
    const detached = signModuleDetached(MODULE, bob, signModuleDetached(MODULE, alice, undefined, 'g').signature, 'g').signature;
    assert.deepEqual(signers(verifyModuleSignature(MODULE, detached, trustOf([alice, bob]), 'g.wasm')), [alice.keyId, bob.keyId]);
  });

  test('a component, embedded and detached', () => {
    const component = guestComponent();
    assert.deepEqual(signers(verifyModuleSignature(signModule(component, alice, 'c').module, undefined, trustOf([alice]), 'c.wasm')), [alice.keyId]);
    assert.deepEqual(signers(verifyModuleSignature(component, signModuleDetached(component, bob, undefined, 'c').signature, trustOf([bob]), 'c.wasm')), [bob.keyId]);
  });

  test('a signature with no key id, as wasmsign2 writes without a public key, by trying every trusted key', () => {
    const m = readSections(MODULE, 'g');
    const hash = hashSections(m, m.sections);
    const data: SignatureData = { contentType: CONTENT_TYPE.module, sets: [{ hashes: [hash], signatures: [{ keyId: new Uint8Array(0), algorithm: 1, signature: signEd25519(null, signedMessage(CONTENT_TYPE.module, [hash]), bob.privateKey) }] }] };
    assert.deepEqual(signers(verifyModuleSignature(MODULE, encodeSignatureData(data), trustOf([alice, bob]), 'g.wasm')), [bob.keyId]);
  });

  test('a module signed by a revoked key and by another trusted key, naming only the other', () => {
    const both = signModule(SIGNED, bob, 'g').module;
    assert.deepEqual(signers(verifyModuleSignature(both, undefined, trustOf([alice, bob], [alice.keyId]), 'g.wasm')), [bob.keyId]);
  });
});

describe('verifyModuleSignature fails closed', () => {
  test('SIGNATURE_MISSING for an unsigned module, naming it', () => {
    assert.match(expectCode('SIGNATURE_MISSING', () => verifyModuleSignature(MODULE, undefined, trustOf([alice]), 'app/web (web.wasm)')), /^app\/web \(web\.wasm\): carries no signature/);
  });

  test('SIGNATURE_MISSING for signature data that holds no signature', () => {
    const empty = embedSignature(readSections(MODULE, 'g'), encodeSignatureData({ contentType: CONTENT_TYPE.module, sets: [] }));
    assert.match(expectCode('SIGNATURE_MISSING', () => verifyModuleSignature(empty, undefined, trustOf([alice]), 'g.wasm')), /holds no signatures/);
  });

  test('SIGNATURE_INVALID when code was changed after signing', () => {
    const code = readSections(SIGNED, 'g').sections.find((s) => s.id === 10)!;
    const tampered = flipByte(SIGNED, code.end - 2);
    assert.match(expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(tampered, undefined, trustOf([alice]), 'g.wasm')), new RegExp(`does not match what key ${alice.keyId} signed: the module changed after it was signed`));
  });

  test('SIGNATURE_INVALID when data was changed after signing', () => {
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(patch(SIGNED, 'signed hello', 'signed HELLO'), undefined, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_INVALID when a section is appended after signing, embedded or detached', () => {
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(appendCustomSection(SIGNED, 'extra', 'x'), undefined, trustOf([alice]), 'g.wasm'));
    const sig = signModuleDetached(MODULE, alice, undefined, 'g').signature;
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(appendCustomSection(MODULE, 'extra', 'x'), sig, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_INVALID when a section is removed after signing', () => {
    const m = readSections(SIGNED, 'g');
    const last = m.sections.at(-1)!;
    const withoutLast = SIGNED.subarray(0, last.start - 2); // the custom section's id and one-byte size
    assert.equal(readSections(withoutLast, 'g').sections.length, m.sections.length - 1);
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(withoutLast, undefined, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_INVALID when the signature section is not the first section', () => {
    const moved = Buffer.concat([MODULE, customSection('signature', signModuleDetached(MODULE, alice, undefined, 'g').signature)]);
    assert.match(expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(moved, undefined, trustOf([alice]), 'g.wasm')), /must be in the first section/);
  });

  test('SIGNATURE_INVALID when the signed hash or the signature bytes were altered', () => {
    // The hash starts right after version, content type, hash function, set count, set length, hash count.
    const hashAltered = withSignatureData((d) => flipByte(d, 6));
    assert.match(expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(hashAltered, undefined, trustOf([alice]), 'g.wasm')), new RegExp(`the signature that names key ${alice.keyId} does not verify with that key`));
    const signatureAltered = withSignatureData((d) => flipByte(d, -1));
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(signatureAltered, undefined, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_UNTRUSTED when the key id was altered: the id is not signed, so only the key it names is tried', () => {
    // The key id follows version, content type, hash function, set count and length, the hash, signature count, record length and key id length.
    const idAltered = withSignatureData((d) => flipByte(d, 41));
    expectCode('SIGNATURE_UNTRUSTED', () => verifyModuleSignature(idAltered, undefined, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_INVALID for a detached signature of another module', async () => {
    const other = signModuleDetached(await guestModule('status: 204\n\n'), alice, undefined, 'o').signature;
    expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(MODULE, other, trustOf([alice]), 'g.wasm'));
  });

  test('SIGNATURE_INVALID for malformed signature data', () => {
    const truncated = withSignatureData((d) => d.subarray(0, d.length - 10));
    assert.match(expectCode('SIGNATURE_INVALID', () => verifyModuleSignature(truncated, undefined, trustOf([alice]), 'g.wasm')), /^g\.wasm: malformed signature data/);
  });

  test('SIGNATURE_UNSUPPORTED for an unknown spec version or hash function', () => {
    const version = withSignatureData((d) => Buffer.concat([Uint8Array.of(0x02), d.subarray(1)]));
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => verifyModuleSignature(version, undefined, trustOf([alice]), 'g.wasm')), /spec version 0x02/);
    const hashFunction = withSignatureData((d) => Buffer.concat([d.subarray(0, 2), Uint8Array.of(0x02), d.subarray(3)]));
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => verifyModuleSignature(hashFunction, undefined, trustOf([alice]), 'g.wasm')), /hash function 0x02/);
  });

  test('SIGNATURE_UNSUPPORTED for a signature over the module in several parts (partial verification)', () => {
    const m = readSections(MODULE, 'g');
    const hashes = [hashSections(m, m.sections.slice(0, 2)), hashSections(m, m.sections)];
    const data: SignatureData = { contentType: CONTENT_TYPE.module, sets: [{ hashes, signatures: [{ keyId: Buffer.from(alice.keyId, 'hex'), algorithm: 1, signature: signEd25519(null, signedMessage(CONTENT_TYPE.module, hashes), alice.privateKey) }] }] };
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => verifyModuleSignature(MODULE, encodeSignatureData(data), trustOf([alice]), 'g.wasm')), /signed the module in 2 parts \(a partial signature\); Verge verifies whole-module signatures only/);
  });

  test('SIGNATURE_UNSUPPORTED when every signature uses an algorithm other than Ed25519', () => {
    const data: SignatureData = { contentType: CONTENT_TYPE.module, sets: [{ hashes: [new Uint8Array(32)], signatures: [{ keyId: new Uint8Array(0), algorithm: 0x02, signature: new Uint8Array(10) }] }] };
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => verifyModuleSignature(MODULE, encodeSignatureData(data), trustOf([alice]), 'g.wasm')), /signature algorithm 0x02; Verge verifies Ed25519/);
  });

  test('SIGNATURE_UNTRUSTED when valid signatures are all by keys the node does not trust, naming them', () => {
    const message = expectCode('SIGNATURE_UNTRUSTED', () => verifyModuleSignature(SIGNED, undefined, trustOf([bob, carol]), 'g.wasm'));
    assert.ok(message.includes(`signed by key ${alice.keyId}, which this node does not trust (trusted keys: ${bob.keyId}, ${carol.keyId})`), message);
  });

  test('KEY_REVOKED when every trusted signer is revoked, naming the key and never its material', () => {
    const trust = { ...trustOf([alice], [alice.keyId]), revocationSource: '/etc/verge/revoked' };
    const message = expectCode('KEY_REVOKED', () => verifyModuleSignature(SIGNED, undefined, trust, 'g.wasm'));
    assert.equal(message, `g.wasm: signed by key ${alice.keyId}, revoked on this node (/etc/verge/revoked); re-sign with a key that is not revoked`);
  });

  test('MODULE_INVALID for bytes that are not a module at all', () => {
    expectCode('MODULE_INVALID', () => verifyModuleSignature(Buffer.from('not wasm'), undefined, trustOf([alice]), 'g.wasm'));
  });
});

describe('verifyManifestSignature', () => {
  const MANIFEST = '[application]\nname = "shop"\n';
  const SIGNATURE = signManifest(MANIFEST, alice, undefined, 'verge.toml').signature;

  test('accepts the manifest its trusted signer signed, as text or bytes', () => {
    assert.deepEqual(signers(verifyManifestSignature(MANIFEST, SIGNATURE, trustOf([alice]), 'verge.toml')), [alice.keyId]);
    assert.deepEqual(signers(verifyManifestSignature(Buffer.from(MANIFEST), SIGNATURE, trustOf([alice]), 'verge.toml')), [alice.keyId]);
  });

  test('fails closed on a missing signature, an edited manifest, an untrusted signer or a module signature', () => {
    expectCode('SIGNATURE_MISSING', () => verifyManifestSignature(MANIFEST, undefined, trustOf([alice]), 'verge.toml'));
    assert.match(expectCode('SIGNATURE_INVALID', () => verifyManifestSignature(MANIFEST.replace('shop', 'shoq'), SIGNATURE, trustOf([alice]), 'verge.toml')), /the manifest changed after it was signed/);
    expectCode('SIGNATURE_UNTRUSTED', () => verifyManifestSignature(MANIFEST, SIGNATURE, trustOf([bob]), 'verge.toml'));
    expectCode('SIGNATURE_UNSUPPORTED', () => verifyManifestSignature(MANIFEST, signModuleDetached(MODULE, alice, undefined, 'g').signature, trustOf([alice]), 'verge.toml'));
  });
});
