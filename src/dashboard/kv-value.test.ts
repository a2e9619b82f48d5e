import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { KV_VIEW_LIMITS, hexDump, viewValue } from './kv-value.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('stored values as the dashboard shows them', () => {
  test('a JSON object or array reads as JSON, pretty-printed', () => {
    const v = viewValue(utf8('{"cart":[1,2],"user":"ada"}'));
    assert.equal(v.kind, 'json');
    assert.equal(v.text, '{\n  "cart": [\n    1,\n    2\n  ],\n  "user": "ada"\n}');
    assert.equal(v.size, 27);
    assert.equal(v.truncated, false);
  });

  test('a counter, a bare word or broken JSON reads as text as stored', () => {
    for (const s of ['42', 'true', 'héllo wörld\nline two', '{"unfinished": ']) {
      const v = viewValue(utf8(s));
      assert.equal(v.kind, 'text', s);
      assert.equal(v.text, s);
    }
  });

  test('bytes that are not UTF-8, or text with control characters, read as binary with no text', () => {
    for (const bytes of [new Uint8Array([0xff, 0xfe, 0x00, 0x41]), utf8('a\u0000b'), utf8('bell\u0007')]) {
      const v = viewValue(bytes);
      assert.equal(v.kind, 'binary');
      assert.equal(v.text, undefined);
      assert.ok(v.hex.length > 0);
    }
  });

  test('the hex dump shows offset, 16 bytes and their printable characters a line', () => {
    const dump = hexDump(utf8('ABCDEFGHIJKLMNOPQ\n'));
    assert.deepEqual(dump.split('\n'), [
      '00000000  41 42 43 44 45 46 47 48 49 4a 4b 4c 4d 4e 4f 50  ABCDEFGHIJKLMNOP',
      '00000010  51 0a                                            Q.',
    ]);
    assert.equal(hexDump(new Uint8Array()), '');
  });

  test('a long value is cut at the named limits, and a multi-byte character split by the cut does not turn text into binary', () => {
    const long = 'é'.repeat(KV_VIEW_LIMITS.textBytes); // 2 bytes each: the cut falls on a character boundary or inside one
    const cutInside = 'x' + long; // shifts the cut into the middle of an 'é'
    for (const s of [long, cutInside]) {
      const v = viewValue(utf8(s));
      assert.equal(v.kind, 'text');
      assert.equal(v.truncated, true);
      assert.ok(Buffer.byteLength(v.text!) <= KV_VIEW_LIMITS.textBytes);
      assert.ok(Buffer.byteLength(v.text!) >= KV_VIEW_LIMITS.textBytes - 3);
      assert.equal(v.hex.split('\n').length, KV_VIEW_LIMITS.hexBytes / 16);
    }
  });
});
