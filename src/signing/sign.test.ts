import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { RFC8032_KEY_ID, appendCustomSection, guestComponent, guestModule, tempDir, testKey, wasmsign2KeyPair, writeFile } from '../../test/support/signing.js';
import { componentImportNames } from '../wasm/binary.js';
import { readSigningKey } from './keys.js';
import { embeddedSignature, readSections } from './module.js';
import { signManifest, signModule, signModuleDetached } from './sign.js';
import { decodeSignatureData, CONTENT_TYPE } from './format.js';

const HEADER = '0061736d01000000';
/** A type section holding one `func () -> ()`: the whole module after its header. */
const TYPE_SECTION = '010401600000';

/**
 * Computed apart from this code, with OpenSSL 3.0 and the RFC 8032 test 1 key:
 * SHA-256 of the type section, and Ed25519 over "wasmsig" ‖ 01 01 01 ‖ that hash
 * (`openssl pkeyutl -sign -rawin`). The manifest pair is the same over `name = "x"\n` with
 * content type 0x7f.
 */
const VECTOR = {
  moduleHash: '5f25e6a5674a70ef44d90473c43ae014a542ccb424724dfabc21c61165616744',
  moduleSignature: '98648e9b298f2ebe40830003e04e00a813b822d9de6a35de9263372609b0160b23c5dbd57aac092c8b068f4d36fbb0b7fa5856011f75d31d3c58617653661903',
  manifest: 'name = "x"\n',
  manifestHash: '3eb10e9d710d38dc9fe5566f14f7d2cb97ca68a5c6c6b00150b73c69064410cc',
  manifestSignature: 'c56d2385cd6ca10f34bf5daf6ae3b0168b41f72a88fb26723f2fa41737f2b266cfe7f6bcf70eb6e9afc0db39964b020322d532b5c101c3f2bddc0331841fa801',
};

/** Signature data field by field, as Signatures.md lays it out, for one hash and one signer. */
function expectedData(contentType: string, hash: string, signature: string): string {
  const record = '0c' + RFC8032_KEY_ID + '01' + '40' + signature; // key_id_len 12, key_id, Ed25519, signature_len 64, signature
  const set = '01' + hash + '01' + (record.length / 2).toString(16) + record; // one hash, one signature (length-prefixed)
  return '01' + contentType + '01' + '01' + (set.length / 2).toString(16) + set; // version, content type, SHA-256, one set (length-prefixed)
}

const rfcKey = () => readSigningKey(writeFile(tempDir(), 'rfc.sk', wasmsign2KeyPair()));

describe('signModule', () => {
  test('writes, byte for byte, the signed module the spec describes (a vector built apart with OpenSSL)', () => {
    const signed = signModule(Buffer.from(HEADER + TYPE_SECTION, 'hex'), rfcKey(), 'm.wasm');
    const data = expectedData('01', VECTOR.moduleHash, VECTOR.moduleSignature);
    const section = '00' + '8101' + '09' + Buffer.from('signature').toString('hex') + data; // custom section, size 129 (LEB128 81 01)
    assert.equal(data.length / 2, 119);
    assert.equal(Buffer.from(signed.module).toString('hex'), HEADER + section + TYPE_SECTION);
    assert.equal(Buffer.from(signed.signature).toString('hex'), data);
    assert.deepEqual(signed.signers, [RFC8032_KEY_ID]);
  });

  test('adds a second signer to the same hash set and keeps the first', async () => {
    const [a, b] = [testKey('a'), testKey('b')];
    const once = signModule(await guestModule(), a, 'g.wasm');
    const twice = signModule(once.module, b, 'g.wasm');
    assert.equal(twice.added, true);
    assert.deepEqual(twice.signers, [a.keyId, b.keyId]);
    const data = decodeSignatureData(embeddedSignature(readSections(twice.module, 'g'), 'g')!.data, CONTENT_TYPE.module, 'g');
    assert.equal(data.sets.length, 1);
    assert.equal(data.sets[0]!.signatures.length, 2);
  });

  test('changes nothing when the key has already signed the module', async () => {
    const a = testKey('a');
    const once = signModule(await guestModule(), a, 'g.wasm');
    const again = signModule(once.module, a, 'g.wasm');
    assert.equal(again.added, false);
    assert.deepEqual(Buffer.from(again.module), Buffer.from(once.module));
  });

  test('keeps signatures over an earlier version of the module and counts them as stale', async () => {
    const [a, b] = [testKey('a'), testKey('b')];
    const once = signModule(await guestModule(), a, 'g.wasm');
    const changed = signModule(appendCustomSection(once.module, 'later', 'x'), b, 'g.wasm');
    assert.equal(changed.stale, 1);
    assert.deepEqual(changed.signers, [b.keyId]);
  });

  test('leaves a module that still compiles, and a component whose imports still read', async () => {
    const a = testKey('a');
    const signed = signModule(await guestModule(), a, 'g.wasm');
    assert.ok(WebAssembly.Module.imports(new WebAssembly.Module(signed.module)).some((i) => i.name === 'fd_write'));
    const component = signModule(guestComponent(), a, 'c.wasm');
    assert.deepEqual(componentImportNames(component.module), ['wasi:http/types@0.2.0']);
  });
});

describe('signModuleDetached', () => {
  test('is the payload an embedded signature would carry, so one can become the other', async () => {
    const a = testKey('a');
    const module = await guestModule();
    const detached = signModuleDetached(module, a, undefined, 'g.wasm');
    assert.deepEqual(Buffer.from(detached.signature), Buffer.from(signModule(module, a, 'g.wasm').signature));
  });

  test('adds a signer to an existing detached signature', async () => {
    const [a, b] = [testKey('a'), testKey('b')];
    const module = await guestModule();
    const first = signModuleDetached(module, a, undefined, 'g.wasm');
    const second = signModuleDetached(module, b, first.signature, 'g.wasm');
    assert.deepEqual(second.signers, [a.keyId, b.keyId]);
  });
});

describe('signManifest', () => {
  test('signs one SHA-256 hash of the exact bytes with content type 0x7f (a vector built apart with OpenSSL)', () => {
    const signed = signManifest(VECTOR.manifest, rfcKey(), undefined, 'verge.toml');
    assert.equal(Buffer.from(signed.signature).toString('hex'), expectedData('7f', VECTOR.manifestHash, VECTOR.manifestSignature));
  });
});
