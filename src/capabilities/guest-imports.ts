/**
 * The two import objects a worker hands its guests, assembled from the capability map: verge:v1
 * for WAGI modules, and the wasi:* interfaces for components (the non-capability ones from
 * sandbox/component/imports.ts, then each capability's).
 */
import type { GuestScope } from '../sandbox/scope.js';
import type { Capability } from './capability.js';
import { CAPABILITY_LIST } from './index.js';
import { DEFAULT_LIMITS } from '../manifest/config.js';
import { createBaseImports, type ComponentIo } from '../sandbox/component/imports.js';
import { createOutgoingTypes } from '../sandbox/component/wasi-http.js';
import { DEFAULT_MAX_REQUEST_BODY_BYTES } from './outbound-http/limits.js';

export function createVergeImports(scope: GuestScope, capabilities: readonly Capability[] = CAPABILITY_LIST): Record<string, (...args: never[]) => number> {
  return Object.assign({}, ...capabilities.map((c) => c.bindings.wasiP1(scope))) as Record<string, (...args: never[]) => number>;
}

export function createComponentImports(scope: GuestScope, io: ComponentIo, capabilities: readonly Capability[] = CAPABILITY_LIST): Record<string, Record<string, unknown>> {
  // Body caps are the current request's: its component's max_response_bytes, its outbound limits.
  const http = createOutgoingTypes(() => {
    const { maxResponseBytes, grants } = scope.frame;
    return {
      response: maxResponseBytes ?? DEFAULT_LIMITS.maxResponseBytes,
      outgoingRequest: grants.outbound ? grants.outbound.maxRequestBodyBytes : DEFAULT_MAX_REQUEST_BODY_BYTES,
    };
  });
  return Object.assign(createBaseImports(io, http), ...capabilities.map((c) => c.bindings.component(scope))) as Record<string, Record<string, unknown>>;
}
