import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseManifest } from '../../manifest/load.js';
import { isVergeError } from '../../errors.js';

const manifest = (files: string) => `[application]\nname = "a"\n[[route]]\npath = "/..."\ncomponent = "c"\n[component.c]\nsource = "c.wasm"\n${files}\n`;

function problems(files: string): string[] {
  try {
    parseManifest(manifest(files), '/app/verge.toml');
  } catch (err) {
    assert.ok(isVergeError(err) && err.code === 'MANIFEST_INVALID');
    return err.message.split('\n');
  }
  return [];
}

describe('files and exclude_files in the manifest', () => {
  test('globs and folder mappings are parsed, destinations normalised', () => {
    const app = parseManifest(manifest('files = ["static/**", { source = "config/", destination = "/etc/app/" }]\nexclude_files = ["static/drafts/**"]'), '/app/verge.toml');
    const files = app.components.get('c')!.files!;
    assert.deepEqual(files.globs.map((g) => [g.pattern, g.base]), [['static/**', 'static']]);
    assert.deepEqual(files.folders.map((f) => [f.source, f.destination]), [['config', '/etc/app']]);
    assert.ok(files.exclude[0]!.test('static/drafts/x.html'));
  });

  test('a component without files has no file system', () => {
    assert.equal(parseManifest(manifest(''), '/app/verge.toml').components.get('c')!.files, undefined);
  });

  test('globs and sources outside the app, relative or overlapping destinations and stray keys are refused, naming file, key and what was expected', () => {
    assert.deepEqual(problems('files = ["../x/**", "/abs/**", { source = "../up", destination = "/u" }, { source = "c", destination = "rel" }, { source = "a", destination = "/a" }, { source = "b", destination = "/a/b" }, { source = "d", destination = "/d", mode = "rw" }, 3]'), [
      '/app/verge.toml: component.c.files[0]: the pattern "../x/**" has a ".." segment (mounted files stay inside the app folder): expected a glob such as "static/**", a path relative to the app folder, with "/" separators and no "..", "." or empty segments',
      '/app/verge.toml: component.c.files[1]: the pattern "/abs/**" is absolute (mounted files are named relative to the app folder): expected a glob such as "static/**", a path relative to the app folder, with "/" separators and no "..", "." or empty segments',
      '/app/verge.toml: component.c.files[2].source: "../up" has a ".." segment (mounted files stay inside the app folder): expected a path relative to the app folder, with "/" separators and no "..", "." or empty segments',
      '/app/verge.toml: component.c.files[3].destination: "rel" is not absolute: expected a guest path such as "/etc" or "/"',
      '/app/verge.toml: component.c.files[5].destination: "/a/b" overlaps "/a" (component.c.files[4]): expected destinations that are not inside one another',
      '/app/verge.toml: component.c.files[6].mode: unknown key (expected one of: source, destination)',
      '/app/verge.toml: component.c.files[7]: expected a glob string or a table { source = "dir/", destination = "/path" }, got the integer 3',
    ]);
  });

  test('a folder mounted at / beside glob patterns overlaps them, and exclude_files needs files', () => {
    assert.match(problems('files = ["static/**", { source = "root", destination = "/" }]')[0]!, /files\[1\]\.destination: "\/" overlaps the files the glob patterns mount there/);
    assert.match(problems('exclude_files = ["x"]')[0]!, /component\.c\.exclude_files: is set without files/);
  });
});
