/**
 * Changes to jco's generated glue that keep its behaviour and cut its cost per host call. jco 0.15's
 * glue wraps every call between the guest and the host in debug logging whose switch is read from
 * `process.env.JCO_DEBUG` on each call: a JS component's request makes ~23 host calls and the glue
 * logs several times in each, and every `process.env` read goes through a C++ interceptor — about a
 * tenth of the CPU of a request (bench/RESULTS.md, issue 17). The switch is read once per
 * instantiation instead, so JCO_DEBUG still works, for instances made after it is set.
 *
 * A patch names the exact text it replaces; glue that does not hold it (another jco version) is
 * left as it is, so a patch can only ever not apply, never apply to something else.
 */

interface GluePatch {
  name: string;
  from: string;
  to: string;
  /** Names `to` declares: glue that already uses one is left alone rather than given a second declaration. */
  declares: string[];
}

const PATCHES: GluePatch[] = [
  {
    name: 'debug-switch-once',
    from: '  const _debugLog = (...args) => {\n    if (!globalThis?.process?.env?.JCO_DEBUG) { return; }\n    console.debug(...args);\n  };',
    to: '  const _debugOn = !!globalThis?.process?.env?.JCO_DEBUG;\n  const _debugLog = (...args) => {\n    if (!_debugOn) { return; }\n    console.debug(...args);\n  };',
    declares: ['_debugOn'],
  },
];

/** What a cache entry's meta records once its glue went through `patchGlue`: the patch set, by name. */
export const GLUE_PATCHES = PATCHES.map((p) => p.name).join(',');

/** The glue with every patch whose text it holds applied, and the names of those applied. */
export function patchGlue(source: string): { source: string; applied: string[] } {
  const applied: string[] = [];
  for (const p of PATCHES) {
    if (!source.includes(p.from) || p.declares.some((name) => source.includes(name))) continue;
    source = source.split(p.from).join(p.to);
    applied.push(p.name);
  }
  return { source, applied };
}
