/** Guest logging: verge:v1 log and wasi:logging, within a per-request budget (the scope keeps it). */
import type { Capability } from '../capability.js';
import { loggingImports } from './bindings/wasi-p1.js';
import { loggingComponentImports } from './bindings/component.js';

export const loggingCapability: Capability = {
  name: 'logging',
  manifest: {},
  provides: { vergeV1: ['log'], wasi: ['wasi:logging/logging'] },
  bindings: { wasiP1: loggingImports, component: loggingComponentImports },
};
