/** Writes a throwaway app (verge.toml + modules) into a temp folder for end-to-end tests. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestComponent {
  wasm: Uint8Array;
  route: string;
  /** TOML inline-table body for limits, e.g. `timeout_ms = 1000`. */
  limits?: string;
  /** More keys for the [component.NAME] table, e.g. `key_value_stores = ["default"]`. */
  extra?: string;
}

/** `appToml` adds app-level tables such as [variables] or [key_value_stores.NAME]. */
export function writeApp(name: string, components: Record<string, TestComponent>, appToml = ''): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `verge-${name}-`));
  let toml = `[application]\nname = "${name}"\n`;
  for (const [cname, c] of Object.entries(components)) {
    writeFileSync(path.join(dir, `${cname}.wasm`), c.wasm);
    toml += `\n[[route]]\npath = "${c.route}"\ncomponent = "${cname}"\n`;
    toml += `\n[component.${cname}]\nsource = "${cname}.wasm"\n`;
    if (c.limits) toml += `limits = { ${c.limits} }\n`;
    if (c.extra) toml += `${c.extra}\n`;
  }
  if (appToml) toml += `\n${appToml}\n`;
  writeFileSync(path.join(dir, 'verge.toml'), toml);
  return dir;
}

/** Binds a written app to host patterns: `hosts` is a TOML array, e.g. `["api.example.com"]`. */
export function setHosts(dir: string, hosts: string): void {
  const file = path.join(dir, 'verge.toml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('[application]\n', `[application]\nhosts = ${hosts}\n`));
}
