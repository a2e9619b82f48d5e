/** `verge keygen`, `verge sign` and `verge verify` as an operator runs them, through the real CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeApp } from '../support/app.js';
import { guestModule, tempDir } from '../support/signing.js';
import { runVerge, startVerge } from '../support/verge-process.js';

const keyIdIn = (stderr: string) => /key id ([0-9a-f]{24})/.exec(stderr)?.[1];

test('keygen, sign and verify: a module signed by two keys verifies against either, serves as before, and fails closed once tampered', async () => {
  const dir = tempDir();
  const alice = await runVerge(['keygen', '-o', 'alice'], { cwd: dir });
  assert.equal(alice.code, 0, alice.stderr);
  const aliceId = keyIdIn(alice.stderr)!;
  assert.ok(aliceId, alice.stderr);
  assert.equal(statSync(path.join(dir, 'alice.key')).mode & 0o777, 0o600);
  const bob = await runVerge(['keygen', '-o', 'bob'], { cwd: dir });
  const bobId = keyIdIn(bob.stderr)!;
  await runVerge(['keygen', '-o', 'carol'], { cwd: dir });

  const app = writeApp('signed', { web: { route: '/...', wasm: await guestModule() } });
  const wasm = path.join(app, 'web.wasm');
  const signed = await runVerge(['sign', wasm, '--key', path.join(dir, 'alice.key')]);
  assert.equal(signed.code, 0, signed.stderr);
  assert.ok(signed.stderr.includes(`Signed ${wasm} with key ${aliceId} (embedded)`), signed.stderr);
  const twice = await runVerge(['sign', wasm, '--key', path.join(dir, 'bob.key')]);
  assert.ok(twice.stderr.includes(`signers: ${aliceId}, ${bobId}`), twice.stderr);

  const both = await runVerge(['verify', wasm, '--trust-key', path.join(dir, 'alice.pub'), '--trust-key', path.join(dir, 'bob.pub')]);
  assert.equal(both.code, 0, both.stderr);
  assert.ok(both.stderr.includes(`ok  ${wasm}: signed by key ${aliceId} (${path.join(dir, 'alice.pub')}), key ${bobId} (${path.join(dir, 'bob.pub')})`), both.stderr);

  const untrusted = await runVerge(['verify', wasm, '--trust-key', path.join(dir, 'carol.pub')]);
  assert.equal(untrusted.code, 1);
  assert.match(untrusted.stderr, /which this node does not trust[\s\S]*\(SIGNATURE_UNTRUSTED\)/);

  const node = await startVerge(app);
  try {
    const res = await fetch(`${node.url}/`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'signed hello\n');
  } finally {
    await node.stop();
  }

  appendFileSync(wasm, Buffer.from([0x00, 0x03, 0x02, 0x6e, 0x6e]));
  const tampered = await runVerge(['verify', wasm, '--trust-key', path.join(dir, 'alice.pub')]);
  assert.equal(tampered.code, 1);
  assert.match(tampered.stderr, new RegExp(`does not match what key ${aliceId} signed[\\s\\S]*\\(SIGNATURE_INVALID\\)`));
});

test('a detached signature leaves the module untouched, and a revoked key is refused', async () => {
  const dir = tempDir();
  const keygen = await runVerge(['keygen'], { cwd: dir });
  const keyId = keyIdIn(keygen.stderr)!;
  const wasm = path.join(dir, 'web.wasm');
  writeFileSync(wasm, await guestModule());
  const before = readFileSync(wasm);

  const sign = await runVerge(['sign', 'web.wasm', '--key', 'verge.key', '--detached', 'web.wasm.sig'], { cwd: dir });
  assert.equal(sign.code, 0, sign.stderr);
  assert.deepEqual(readFileSync(wasm), before);
  const ok = await runVerge(['verify', 'web.wasm', '--trust-key', 'verge.pub', '--signature', 'web.wasm.sig'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  const missing = await runVerge(['verify', 'web.wasm', '--trust-key', 'verge.pub'], { cwd: dir });
  assert.match(missing.stderr, /carries no signature[\s\S]*\(SIGNATURE_MISSING\)/);

  writeFileSync(path.join(dir, 'revoked.txt'), `${keyId}  # left with a laptop\n`);
  const revoked = await runVerge(['verify', 'web.wasm', '--trust-key', 'verge.pub', '--signature', 'web.wasm.sig', '--revocation-file', 'revoked.txt'], { cwd: dir });
  assert.equal(revoked.code, 1);
  assert.match(revoked.stderr, new RegExp(`signed by key ${keyId}, revoked on this node \\(revoked\\.txt\\)[\\s\\S]*\\(KEY_REVOKED\\)`));
});

test('a manifest is signed and verified as its exact bytes with a detached signature', async () => {
  const dir = tempDir();
  await runVerge(['keygen'], { cwd: dir });
  copyFileSync(path.join(writeApp('m', { web: { route: '/...', wasm: await guestModule() } }), 'verge.toml'), path.join(dir, 'verge.toml'));
  const refused = await runVerge(['sign', 'verge.toml', '--key', 'verge.key'], { cwd: dir });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /not a WebAssembly module or component; to sign other content \(such as a verge\.toml\), give --detached FILE/);

  assert.equal((await runVerge(['sign', 'verge.toml', '--key', 'verge.key', '--detached', 'verge.toml.sig'], { cwd: dir })).code, 0);
  const ok = await runVerge(['verify', 'verge.toml', '--trust-key', 'verge.pub', '--signature', 'verge.toml.sig'], { cwd: dir });
  assert.equal(ok.code, 0, ok.stderr);
  appendFileSync(path.join(dir, 'verge.toml'), '\n# edited\n');
  const edited = await runVerge(['verify', 'verge.toml', '--trust-key', 'verge.pub', '--signature', 'verge.toml.sig'], { cwd: dir });
  assert.match(edited.stderr, /the manifest changed after it was signed[\s\S]*\(SIGNATURE_INVALID\)/);
});

test('verge keygen refuses to overwrite a key, and verge verify refuses to run without a trusted key', async () => {
  const dir = tempDir();
  await runVerge(['keygen'], { cwd: dir });
  const key = readFileSync(path.join(dir, 'verge.key'));
  const again = await runVerge(['keygen'], { cwd: dir });
  assert.equal(again.code, 1);
  assert.match(again.stderr, /verge\.key: already exists; Verge never overwrites a key file[\s\S]*\(KEY_INVALID\)/);
  assert.deepEqual(readFileSync(path.join(dir, 'verge.key')), key);

  const noTrust = await runVerge(['verify', 'anything.wasm'], { cwd: dir });
  assert.equal(noTrust.code, 1);
  assert.match(noTrust.stderr, /give at least one --trust-key FILE or a --trust-file FILE/);
});
