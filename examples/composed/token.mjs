#!/usr/bin/env node
// Makes keys and tokens for trying the example by hand (the tests mint their own):
//
//   node token.mjs keygen                          an Ed25519 pair: keys/ed25519.pub (mounted) and .keys/ed25519.pem
//   node token.mjs hs256 SUBJECT [SCOPES] [TTL_S]  signed with $VERGE_VAR_JWT_SECRET
//   node token.mjs eddsa SUBJECT [SCOPES] [TTL_S]  signed with .keys/ed25519.pem
//
// SCOPES is one space-separated string ("profile:read profile:write"); TTL_S defaults to 3600.
import { createHmac, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PUBLIC = path.join(HERE, 'keys/ed25519.pub');
const PRIVATE = path.join(HERE, '.keys/ed25519.pem');
const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const fail = (message) => {
  process.stderr.write(`token.mjs: ${message}\n`);
  process.exit(1);
};

const [command, subject, scope = 'profile:read profile:write', ttl = '3600'] = process.argv.slice(2);
if (command === 'keygen') {
  if (existsSync(PRIVATE)) fail(`${PRIVATE} exists; remove it first to make a new pair`);
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  mkdirSync(path.dirname(PRIVATE), { recursive: true });
  writeFileSync(PRIVATE, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  writeFileSync(PUBLIC, publicKey.export({ format: 'pem', type: 'spki' }));
  process.stdout.write(`wrote ${path.relative(process.cwd(), PUBLIC)} and ${path.relative(process.cwd(), PRIVATE)}\n`);
} else if ((command === 'hs256' || command === 'eddsa') && subject) {
  const now = Math.floor(Date.now() / 1000);
  const alg = command === 'hs256' ? 'HS256' : 'EdDSA';
  const input = `${b64url({ alg, typ: 'JWT' })}.${b64url({ sub: subject, scope, iat: now, exp: now + Number(ttl) })}`;
  let signature;
  if (alg === 'HS256') {
    const secret = process.env.VERGE_VAR_JWT_SECRET ?? fail('set VERGE_VAR_JWT_SECRET (the secret verge up was given)');
    signature = createHmac('sha256', secret).update(input).digest();
  } else {
    if (!existsSync(PRIVATE)) fail(`no ${PRIVATE}: run node token.mjs keygen first`);
    signature = sign(null, Buffer.from(input), createPrivateKey(readFileSync(PRIVATE)));
  }
  process.stdout.write(`${input}.${signature.toString('base64url')}\n`);
} else {
  fail('usage: node token.mjs keygen | hs256 SUBJECT [SCOPES] [TTL_S] | eddsa SUBJECT [SCOPES] [TTL_S]');
}
