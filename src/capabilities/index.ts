/**
 * Every capability, in one literal map: the only place to look to see what a guest can be
 * granted. A new capability is a folder meeting capability.ts's contract plus one line here.
 */
import type { Capability } from './capability.js';
import { BASE_INTERFACES } from '../sandbox/component/imports.js';
import { kvCapability } from './kv/definition.js';
import { outboundHttpCapability } from './outbound-http/definition.js';
import { variablesCapability } from './variables/definition.js';
import { loggingCapability } from './logging/definition.js';
import { filesCapability } from './files/definition.js';
import { postgresCapability } from './postgres/definition.js';
import { redisCapability } from './redis/definition.js';
import { environmentCapability } from './environment/definition.js';

export const CAPABILITIES = {
  kv: kvCapability,
  'outbound-http': outboundHttpCapability,
  variables: variablesCapability,
  logging: loggingCapability,
  files: filesCapability,
  postgres: postgresCapability,
  redis: redisCapability,
  environment: environmentCapability,
} as const satisfies Record<string, Capability>;

export const CAPABILITY_LIST: readonly Capability[] = Object.values(CAPABILITIES);

/** Every verge:v1 function, so a module importing an unknown one fails at load. */
export const VERGE_ABI_NAMES: ReadonlySet<string> = new Set(CAPABILITY_LIST.flatMap((c) => c.provides.vergeV1));

/** Every interface a component may import: the non-capability ones and each capability's. */
export const PROVIDED_INTERFACES: ReadonlySet<string> = new Set([...BASE_INTERFACES, ...CAPABILITY_LIST.flatMap((c) => c.provides.wasi)]);

export { createCapabilityHost, DEFAULT_DATA_DIR, type CapabilityHost, type CapabilityHostOptions, type PreparedApp } from './host.js';
