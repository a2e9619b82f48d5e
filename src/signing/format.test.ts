import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { expectCode } from '../../test/support/signing.js';
import { encodeU32 } from '../wasm/binary.js';
import { CONTENT_TYPE, LIMITS, decodeSignatureData, encodeSignatureData, signedMessage, type SignatureData } from './format.js';

const hash = (fill: number) => new Uint8Array(32).fill(fill);
const sig = (fill: number) => new Uint8Array(64).fill(fill);

const TWO_SETS: SignatureData = {
  contentType: CONTENT_TYPE.module,
  sets: [
    { hashes: [hash(1)], signatures: [{ keyId: Uint8Array.of(0xaa, 0xbb), algorithm: 0x01, signature: sig(2) }, { keyId: new Uint8Array(0), algorithm: 0x01, signature: sig(3) }] },
    { hashes: [hash(4), hash(5)], signatures: [{ keyId: Buffer.from('second'), algorithm: 0x01, signature: sig(6) }] },
  ],
};

/** Signature data assembled field by field from the tables in Signatures.md. */
function specBytes(opts: { version?: number; contentType?: number; hashFn?: number; hashCount?: number; record?: number[]; trailing?: number[] } = {}): Uint8Array {
  const record = opts.record ?? [0x00, 0x01, 0x40, ...sig(7)]; // key_id_len 0, Ed25519, signature_len 64, signature
  const set = [...encodeU32(opts.hashCount ?? 1), ...Array.from({ length: opts.hashCount ?? 1 }, () => [...hash(8)]).flat(), 0x01, ...encodeU32(record.length), ...record];
  return Uint8Array.from([opts.version ?? 0x01, opts.contentType ?? 0x01, opts.hashFn ?? 0x01, 0x01, ...encodeU32(set.length), ...set, ...(opts.trailing ?? [])]);
}

describe('encodeSignatureData and decodeSignatureData', () => {
  test('round-trip several hash sets, each with several signers, key ids present or empty', () => {
    const bytes = encodeSignatureData(TWO_SETS);
    const back = decodeSignatureData(bytes, CONTENT_TYPE.module, 'm.wasm');
    assert.deepEqual(
      back.sets.map((s) => ({ hashes: s.hashes.map((h) => Buffer.from(h).toString('hex')), signatures: s.signatures.map((x) => [Buffer.from(x.keyId).toString('hex'), x.algorithm, Buffer.from(x.signature).toString('hex')]) })),
      TWO_SETS.sets.map((s) => ({ hashes: s.hashes.map((h) => Buffer.from(h).toString('hex')), signatures: s.signatures.map((x) => [Buffer.from(x.keyId).toString('hex'), x.algorithm, Buffer.from(x.signature).toString('hex')]) })),
    );
  });

  test('write the layout of Signatures.md: version, content type, hash function, then length-prefixed sets and records', () => {
    const data: SignatureData = { contentType: CONTENT_TYPE.module, sets: [{ hashes: [hash(8)], signatures: [{ keyId: new Uint8Array(0), algorithm: 0x01, signature: sig(7) }] }] };
    assert.deepEqual(Buffer.from(encodeSignatureData(data)), Buffer.from(specBytes()));
  });

  test('read signature data written by hand from the spec', () => {
    const data = decodeSignatureData(specBytes(), CONTENT_TYPE.module, 'm.wasm');
    assert.equal(data.sets.length, 1);
    assert.deepEqual(Buffer.from(data.sets[0]!.hashes[0]!), Buffer.from(hash(8)));
    assert.equal(data.sets[0]!.signatures[0]!.keyId.length, 0);
  });
});

describe('decodeSignatureData refuses', () => {
  test('an unknown spec version, content type or hash function as SIGNATURE_UNSUPPORTED, naming the value', () => {
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => decodeSignatureData(specBytes({ version: 0x02 }), CONTENT_TYPE.module, 'm.wasm')), /^m\.wasm: signature spec version 0x02 /);
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => decodeSignatureData(specBytes({ contentType: 0x05 }), CONTENT_TYPE.module, 'm.wasm')), /content type 0x05 \(an unknown content type\); expected 0x01/);
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => decodeSignatureData(specBytes({ hashFn: 0x02 }), CONTENT_TYPE.module, 'm.wasm')), /hash function 0x02 .* \(0x01, SHA-256\)/);
  });

  test('a module signature where a manifest signature is expected, and the other way round', () => {
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => decodeSignatureData(specBytes(), CONTENT_TYPE.manifest, 'verge.toml')), /0x01 \(a WebAssembly module\); expected 0x7f \(a Verge manifest\)/);
    assert.match(expectCode('SIGNATURE_UNSUPPORTED', () => decodeSignatureData(specBytes({ contentType: 0x7f }), CONTENT_TYPE.module, 'm.wasm')), /0x7f \(a Verge manifest\); expected 0x01/);
  });

  test('bytes after the last signature, a truncated record, or an Ed25519 signature of the wrong length as SIGNATURE_INVALID', () => {
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(specBytes({ trailing: [0x00] }), CONTENT_TYPE.module, 'm.wasm')), /1 bytes after the last signature/);
    const bytes = specBytes();
    for (const cut of [1, 3, 4, 10, bytes.length - 1]) expectCode('SIGNATURE_INVALID', () => decodeSignatureData(bytes.subarray(0, cut), CONTENT_TYPE.module, 'm.wasm'));
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(specBytes({ record: [0x00, 0x01, 0x20, ...new Uint8Array(32)] }), CONTENT_TYPE.module, 'm.wasm')), /Ed25519 signature is 32 bytes; expected 64/);
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(specBytes({ record: [0x00, 0x01, 0x40, ...sig(1), 0x00] }), CONTENT_TYPE.module, 'm.wasm')), /1 bytes after a signature/);
  });

  test('more hashes, sets or signatures than the limits, before reading them', () => {
    const oneSet = (body: number[]) => Uint8Array.from([0x01, 0x01, 0x01, 0x01, ...encodeU32(body.length), ...body]);
    const tooManyHashes = oneSet(encodeU32(LIMITS.MAX_HASHES_PER_SET + 1));
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(tooManyHashes, CONTENT_TYPE.module, 'm.wasm')), /65 hashes in a set; at most 64/);
    const tooManySets = Uint8Array.from([0x01, 0x01, 0x01, ...encodeU32(LIMITS.MAX_HASH_SETS + 1)]);
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(tooManySets, CONTENT_TYPE.module, 'm.wasm')), /65 signed hash sets; at most 64/);
    const tooManySignatures = oneSet([0x01, ...hash(0), ...encodeU32(LIMITS.MAX_SIGNATURES_PER_SET + 1)]);
    assert.match(expectCode('SIGNATURE_INVALID', () => decodeSignatureData(tooManySignatures, CONTENT_TYPE.module, 'm.wasm')), /257 signatures in a set; at most 256/);
  });
});

describe('signedMessage', () => {
  test('is "wasmsig", the version, content type and hash function bytes, then the hashes', () => {
    const m = signedMessage(CONTENT_TYPE.module, [hash(1), hash(2)]);
    assert.equal(m.subarray(0, 10).toString('hex'), Buffer.from('wasmsig').toString('hex') + '010101');
    assert.deepEqual(m.subarray(10), Buffer.concat([hash(1), hash(2)]));
    assert.equal(signedMessage(CONTENT_TYPE.manifest, [hash(1)])[8], 0x7f);
  });
});
