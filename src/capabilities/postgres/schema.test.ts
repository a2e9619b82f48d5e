import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseManifest } from '../../manifest/load.js';
import { manifestProblems } from '../../manifest/fixtures.js';
import { isVergeError, type VergeError } from '../../errors.js';
import { createCapabilityHost } from '../host.js';

const FILE = '/srv/app/verge.toml';

function manifest(databases: string, grant = 'databases = ["main"]'): string {
  return `
[application]
name = "app"

[[route]]
path = "/..."
component = "api"

[component.api]
source = "api.wasm"
${grant}

[variables]
db_password = { required = true, secret = true }
optional_host = { default = "" }
unset_host = {}
${databases}
`;
}

const problems = (text: string): string => manifestProblems(text, FILE);

describe('[databases.NAME] in verge.toml', () => {
  test('a database with a url and limits is read, and granted to the component', () => {
    const app = parseManifest(manifest('[databases.main]\nurl = "postgres://app:{{ db_password }}@db.internal/orders?sslmode=verify-full"\nmax_rows = 500\npool_size = 4'), FILE);
    const db = app.databases.get('main')!;
    assert.deepEqual(db.variables, ['db_password']);
    assert.equal(db.limits.maxRows, 500);
    assert.equal(db.limits.poolSize, 4);
    assert.deepEqual(app.components.get('api')!.databases, ['main']);
  });

  test('a placeholder naming a variable that is not declared is refused, naming the file and the key', () => {
    const message = problems(manifest('[databases.main]\nurl = "postgres://app:{{ db_pasword }}@db/orders"'));
    assert.match(message, /^\/srv\/app\/verge\.toml: databases\.main\.url: "\{\{ db_pasword \}\}" names no variable: declare it in \[variables\]/m);
  });

  test('a url that is not a postgres:// URL is refused at load, saying what was expected', () => {
    assert.match(problems(manifest('[databases.main]\nurl = "mysql://app@db/orders"')), /databases\.main\.url: expected a postgres:\/\/ URL/);
    assert.match(problems(manifest('[databases.main]\nurl = "postgres://app@db/orders?sslmode=prefer"')), /databases\.main\.url: expected sslmode=disable, require, verify-ca or verify-full/);
    assert.match(problems(manifest('[databases.main]')), /databases\.main\.url: is required: expected a postgres:\/\/ URL/);
  });

  test('a limit out of range is refused, stating the range and the unit', () => {
    assert.match(problems(manifest('[databases.main]\nurl = "postgres://app@db/x"\nmax_rows = 0')), /databases\.main\.max_rows: expected an integer from 1 to 1000000 \(rows per result\), got the integer 0/);
    assert.match(problems(manifest('[databases.main]\nurl = "postgres://app@db/x"\npool = 3')), /databases\.main\.pool: unknown key \(expected one of: url, max_rows/);
  });

  test('a component granted a database the app does not declare is refused', () => {
    assert.match(problems(manifest('', 'databases = ["main"]')), /component\.api\.databases\[0\]: no database "main": declare \[databases\.main\] with its url/);
  });
});

describe('a named database when a version is prepared', () => {
  const prepare = (databases: string, env: NodeJS.ProcessEnv): VergeError | undefined => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-pg-schema-'));
    const app = parseManifest(manifest(databases), path.join(dir, 'verge.toml'));
    const host = createCapabilityHost({ dataDir: '.verge/data', env, logger: pino({ level: 'silent' }) });
    try {
      host.prepare('v1', app);
      return undefined;
    } catch (e) {
      assert.ok(isVergeError(e), String(e));
      return e;
    } finally {
      void host.close();
    }
  };

  test('a placeholder whose variable has no value stops it with VARIABLE_MISSING, naming the variable to set', () => {
    const err = prepare('[databases.main]\nurl = "postgres://app@{{ unset_host }}/orders"', { VERGE_VAR_DB_PASSWORD: 'x' });
    assert.equal(err?.code, 'VARIABLE_MISSING');
    assert.match(err!.message, /databases\.main\.url uses \{\{ unset_host \}\}, which has no value \(set VERGE_VAR_UNSET_HOST\)/);
  });

  test('a url that is not valid once filled in is refused without quoting it', () => {
    // optional_host's default is "": a value, so the URL is filled in and has no host.
    const err = prepare('[databases.main]\nurl = "postgres://app:secret@{{ optional_host }}/orders"', { VERGE_VAR_DB_PASSWORD: 'x' });
    assert.equal(err?.code, 'MANIFEST_INVALID');
    assert.match(err!.message, /databases\.main\.url: expected a postgres:\/\/ URL .* once its \{\{ \}\} placeholders are filled in/);
    assert.ok(!err!.message.includes('secret'), 'the URL is never quoted');
  });

  test('a required secret it uses must have a value; the URL and the value never appear in the error', () => {
    const err = prepare('[databases.main]\nurl = "postgres://app:{{ db_password }}@db/orders?sslmode=bogus"', { VERGE_VAR_DB_PASSWORD: 'hunter2-secret' });
    assert.equal(err?.code, 'MANIFEST_INVALID');
    assert.ok(!err!.message.includes('hunter2-secret'));
    assert.equal(prepare('[databases.main]\nurl = "postgres://app:{{ db_password }}@db/orders"', {})?.code, 'VARIABLE_MISSING');
  });

  test('tls_ca names a PEM file beside the manifest; a missing one is refused naming the key', () => {
    const err = prepare('[databases.main]\nurl = "postgres://app@db/orders?sslmode=verify-full"\ntls_ca = "ca.pem"', { VERGE_VAR_DB_PASSWORD: 'x' });
    assert.match(err?.message ?? '', /databases\.main\.tls_ca: cannot read .*ca\.pem \(ENOENT\)/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'verge-pg-ca-'));
    writeFileSync(path.join(dir, 'ca.pem'), 'not a certificate');
    const app = parseManifest(manifest('[databases.main]\nurl = "postgres://app@db/orders"\ntls_ca = "ca.pem"'), path.join(dir, 'verge.toml'));
    const host = createCapabilityHost({ dataDir: '.verge/data', env: { VERGE_VAR_DB_PASSWORD: 'x' }, logger: pino({ level: 'silent' }) });
    assert.throws(() => host.prepare('v1', app), /tls_ca: expected a PEM file of certificates/);
    void host.close();
  });
});
