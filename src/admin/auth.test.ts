import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createAdminAuth, fingerprint, isLoopbackHost, readAdminToken } from './auth.js';

const TOKEN = 'a'.repeat(20) + 'b'.repeat(20);

describe('admin auth', () => {
  test('the bearer token is accepted and the caller named by its fingerprint, never by the token', () => {
    const auth = createAdminAuth(TOKEN, '127.0.0.1');
    const who = auth.check(`Bearer ${TOKEN}`);
    assert.equal(who, fingerprint(TOKEN));
    assert.equal(who!.length, 12);
    assert.ok(!TOKEN.includes(who!));
  });

  test('no token, a wrong token, another scheme or a token with something after it are refused', () => {
    const auth = createAdminAuth(TOKEN, '127.0.0.1');
    for (const header of [undefined, '', `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, `Bearer ${TOKEN} extra`, TOKEN]) assert.equal(auth.check(header), undefined, String(header));
  });

  test('off loopback a token is required: without one the node must not start', () => {
    assert.throws(() => createAdminAuth(undefined, '0.0.0.0'), /ADMIN_TOKEN_REQUIRED|needs a token/);
    assert.equal(createAdminAuth(TOKEN, '0.0.0.0').loopback, false);
  });

  test('on loopback without a token the API is open to local callers, and the override token check never passes', () => {
    const auth = createAdminAuth(undefined, '::1');
    assert.equal(auth.check(undefined), 'local');
    assert.equal(auth.required, false);
    assert.equal(auth.matches('anything at all'), false);
  });

  test('loopback is 127.0.0.0/8, ::1 and localhost; nothing else', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.equal(isLoopbackHost(h), true, h);
    for (const h of ['0.0.0.0', '::', '10.0.0.1', '128.0.0.1', 'example.com']) assert.equal(isLoopbackHost(h), false, h);
  });

  test('a token from a file is trimmed; a short one, or one with spaces, is refused with the source named', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-auth-'));
    const file = path.join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    assert.equal(readAdminToken({ env: {}, tokenFile: file }), TOKEN);
    writeFileSync(file, 'short');
    assert.throws(() => readAdminToken({ env: {}, tokenFile: file }), /--admin-token-file .*at least 16 characters/);
    assert.throws(() => readAdminToken({ env: { VERGE_ADMIN_TOKEN: 'with spaces in it, long enough' } }), /VERGE_ADMIN_TOKEN: .*without spaces/);
    assert.throws(() => readAdminToken({ env: {}, tokenFile: path.join(dir, 'missing') }), /cannot read the token file \(ENOENT\)/);
    assert.equal(readAdminToken({ env: {} }), undefined);
  });
});
