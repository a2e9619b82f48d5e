/**
 * The files capability: `files` and `exclude_files` on a component mount files of the app
 * read-only, as Spin does. The mounts are read into a tree when the version loads
 * (snapshot.ts); each component is granted its own tree, preopened at `/` for WAGI modules
 * (preview1, bindings/wasi-p1.ts, called from the sandbox's preview1) and for components
 * (wasi:filesystem, bindings/component.ts). Default-deny: without `files`, no folder is preopened;
 * a dependency gets its parent's tree only if its entry inherits `files`.
 */
import type { Capability } from '../capability.js';
import { filesComponentImports } from './bindings/component.js';
import { readFileMounts } from './schema.js';

export const filesCapability: Capability = {
  name: 'files',
  manifest: {
    readComponent: (c, _app, problems) => ({ files: readFileMounts(c, problems) }),
  },
  // Its preview1 functions are wasi_snapshot_preview1's own, not verge:v1 imports.
  provides: { vergeV1: [], wasi: ['wasi:filesystem/types', 'wasi:filesystem/preopens'] },
  // A dependency that inherits `files` reads its parent's tree: the same mounts, read-only.
  inheritable: [{ key: 'files', fields: ['files'] }],
  prepare: (_app, ctx) => ({
    grants: (c, parent) => {
      const tree = c.files ? ctx.files?.get((parent ?? c).name) : undefined;
      return tree ? { files: tree } : {};
    },
  }),
  bindings: { wasiP1: () => ({}), component: filesComponentImports },
};
