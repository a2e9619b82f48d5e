/**
 * The `name` custom section's function names (the extended-name-section's subsection 1), so a
 * guest's Wasm backtrace can name its functions where V8's stack trace shows only
 * `wasm-function[N]`. A malformed section yields the names read before the fault: names are a
 * debugging aid, never a reason to fail a request.
 */
import { Reader } from './binary.js';

const FUNCTION_NAMES = 1;

/** Function index → name, from the payload of a `name` custom section. */
export function functionNames(section: Uint8Array): Map<number, string> {
  const names = new Map<number, string>();
  const r = new Reader(section);
  try {
    while (r.pos < r.end) {
      const id = r.byte();
      const size = r.u32();
      const end = r.pos + size;
      if (end > r.end) break;
      if (id === FUNCTION_NAMES) {
        const sub = new Reader(section, r.pos, end);
        for (let count = sub.u32(); count > 0; count--) names.set(sub.u32(), sub.name());
      }
      r.pos = end;
    }
  } catch {
    // Keep what was read.
  }
  return names;
}

const cache = new WeakMap<WebAssembly.Module, Map<number, string>>();

/** The function names of a compiled module (empty without a name section), read once per module. */
export function moduleFunctionNames(module: WebAssembly.Module): Map<number, string> {
  let names = cache.get(module);
  if (!names) {
    const section = WebAssembly.Module.customSections(module, 'name')[0];
    names = section ? functionNames(new Uint8Array(section)) : new Map();
    cache.set(module, names);
  }
  return names;
}
