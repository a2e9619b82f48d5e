// Runs one stage of `verge build` for a TypeScript component, inside the installed toolchain
// folder, so Verge's own process never loads TypeScript, esbuild or ComponentizeJS.
//
//   node runner.mjs <stage> '<json options>'
//
// Prints one JSON line on stdout: {"ok":true,...} or {"ok":false,"diagnostics":[...]} (exit 2)
// for errors in the user's code. Anything else (exit 1, stderr) is a toolchain failure.
// Verge copies this file into the installed toolchain folder, next to its node_modules, so bare
// imports resolve there.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, relative, resolve } from 'node:path';

const [stage, json] = process.argv.slice(2);
const opts = JSON.parse(json ?? '{}');


/** Paths in messages: relative to where the user ran verge, unless that climbs out. */
function shown(file) {
  const rel = relative(opts.cwd ?? process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
}

/**
 * The project's tsconfig.json (found from the entry's folder up to `root`), else strict defaults.
 * noEmit always: we only want the diagnostics; esbuild emits.
 */
async function typecheck({ entry, root, tsconfig, defaultTypes }) {
  const ts = (await import('typescript')).default;
  let rootNames;
  let options;
  if (tsconfig) {
    const read = ts.readConfigFile(tsconfig, ts.sys.readFile);
    if (read.error) return { ok: false, diagnostics: format(ts, [read.error]) };
    const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, dirname(tsconfig), undefined, tsconfig);
    if (parsed.errors.length > 0) return { ok: false, diagnostics: format(ts, parsed.errors) };
    rootNames = parsed.fileNames.includes(entry) ? parsed.fileNames : [...parsed.fileNames, entry];
    options = { ...parsed.options, noEmit: true };
  } else {
    rootNames = [entry, ...defaultTypes];
    options = {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      lib: ['lib.es2022.d.ts', 'lib.webworker.d.ts', 'lib.esnext.disposable.d.ts'],
      types: [],
      skipLibCheck: true,
      noEmit: true,
      allowImportingTsExtensions: true,
    };
  }
  const program = ts.createProgram({ rootNames, options });
  const diagnostics = ts.getPreEmitDiagnostics(program);
  return diagnostics.length === 0
    ? { ok: true, files: program.getRootFileNames().length, tsconfig: tsconfig ?? null }
    : { ok: false, diagnostics: format(ts, diagnostics) };
}

function format(ts, diagnostics) {
  return diagnostics.map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (!d.file || d.start === undefined) return `error TS${d.code}: ${message}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${shown(d.file.fileName)}:${line + 1}:${character + 1} error TS${d.code}: ${message}`;
  });
}

const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** One ESM file; wasi:* and Spin's spin:* and fermyon:* imports stay imports (the component's WIT imports). */
async function bundle({ entry, outfile }) {
  const esbuild = await import('esbuild');
  const noNodeBuiltins = {
    name: 'verge-no-node-builtins',
    setup(build) {
      build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) =>
        NODE_BUILTINS.has(args.path)
          ? {
              errors: [
                {
                  text: `"${args.path}" is a Node.js built-in module, and a component has no Node.js APIs: use Web APIs (fetch, crypto.subtle, TextEncoder, ...) or the wasi:* interfaces (docs/typescript.md)`,
                },
              ],
            }
          : undefined,
      );
    },
  };
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      outfile,
      bundle: true,
      format: 'esm',
      target: 'es2022',
      platform: 'neutral',
      // platform neutral resolves no package.json fields by default; most npm packages need these.
      mainFields: ['browser', 'module', 'main'],
      conditions: ['worker', 'browser'],
      external: ['wasi:*', 'spin:*', 'fermyon:*'],
      plugins: [noNodeBuiltins],
      logLevel: 'silent',
      metafile: true,
    });
    const outputs = Object.values(result.metafile.outputs);
    const bytes = outputs.reduce((n, o) => n + o.bytes, 0);
    // The wasi:* (and Spin's spin:* and fermyon:*) interfaces the bundle imports: the world it is componentized against lists just these.
    const wasiImports = [...new Set(outputs.flatMap((o) => o.imports.filter((i) => i.external && /^(wasi|spin|fermyon):/.test(i.path)).map((i) => i.path)))].sort();
    return { ok: true, bytes, inputs: Object.keys(result.metafile.inputs).length, wasiImports, warnings: result.warnings.map(esbuildMessage) };
  } catch (err) {
    if (!Array.isArray(err.errors)) throw err;
    return { ok: false, diagnostics: err.errors.map(esbuildMessage) };
  }
}

function esbuildMessage(m) {
  const where = m.location ? `${shown(resolve(m.location.file))}:${m.location.line}:${m.location.column + 1} ` : '';
  return `${where}${m.text}`;
}

/** ComponentizeJS, never AOT (weval would be a download). Written atomically: verge up may be reading. */
async function componentize({ bundle: sourcePath, witPath, worldName, outfile }) {
  const { componentize } = await import('@bytecodealliance/componentize-js');
  let out;
  try {
    out = await componentize({ sourcePath, witPath, worldName, enableAot: false });
  } catch (err) {
    // ComponentizeJS reports the guest's top-level errors (a throw at load, a bad import) this way.
    return { ok: false, diagnostics: [String(err?.message ?? err).trim()] };
  }
  mkdirSync(dirname(outfile), { recursive: true });
  const tmp = `${outfile}.${process.pid}.tmp`;
  writeFileSync(tmp, out.component);
  renameSync(tmp, outfile);
  return { ok: true, bytes: out.component.length, imports: out.imports };
}

// Last, so every module-level constant above is initialised before a stage runs.
const stages = { typecheck, bundle, componentize };
if (!(stage in stages)) {
  process.stderr.write(`runner.mjs: unknown stage ${stage}; expected one of ${Object.keys(stages).join(', ')}\n`);
  process.exit(1);
}
const result = await stages[stage](opts);
process.stdout.write(JSON.stringify(result) + '\n');
process.exitCode = result.ok ? 0 : 2;
