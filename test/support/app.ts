/** Writes a throwaway app (verge.toml + modules) into a temp folder for end-to-end tests. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestComponent {
  wasm: Uint8Array;
  route: string;
  /** TOML inline-table body for limits, e.g. `timeout_ms = 1000`. */
  limits?: string;
}

export function writeApp(name: string, components: Record<string, TestComponent>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `verge-${name}-`));
  let toml = `[application]\nname = "${name}"\n`;
  for (const [cname, c] of Object.entries(components)) {
    writeFileSync(path.join(dir, `${cname}.wasm`), c.wasm);
    toml += `\n[[route]]\npath = "${c.route}"\ncomponent = "${cname}"\n`;
    toml += `\n[component.${cname}]\nsource = "${cname}.wasm"\n`;
    if (c.limits) toml += `limits = { ${c.limits} }\n`;
  }
  writeFileSync(path.join(dir, 'verge.toml'), toml);
  return dir;
}
