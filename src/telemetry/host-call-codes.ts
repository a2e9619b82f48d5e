/**
 * A host call's capability and outcome as one small number, so a worker can send the timings of
 * a request's host calls back with its answer as a Float64Array (code, seconds, ...) rather than
 * an object per call. The capabilities are those of capabilities/index.ts, in its order; the
 * outcomes are the verge:v1 status names (OK first), then `error` for anything that is not a
 * host-call refusal (a guest memory fault inside a binding, a bug).
 */
import { Status, type StatusName } from '../capabilities/abi.js';
import { CAPABILITIES } from '../capabilities/index.js';

export type CapabilityName = keyof typeof CAPABILITIES;

const STATUS_NAMES = Object.keys(Status) as StatusName[];

/** The outcome label values, by outcome index: ok, not_found, access_denied, ..., error. */
export const HOST_CALL_OUTCOMES: readonly string[] = [...STATUS_NAMES.map((s) => s.toLowerCase()), 'error'];

const OUTCOMES = HOST_CALL_OUTCOMES.length;
const ERROR = OUTCOMES - 1;
const STATUS_INDEX = new Map(STATUS_NAMES.map((s, i) => [s, i]));

/** Read on first use: capabilities/index.ts may still be loading when this module is (host.ts is part of it). */
let capabilityNames: readonly string[] | undefined;
let capabilityBase: Map<string, number> | undefined;
const names = (): readonly string[] => (capabilityNames ??= Object.keys(CAPABILITIES));

/** The code of a call to `capability` that ended with `outcome` (a status name; undefined: an error that is not a refusal). */
export function hostCallCode(capability: CapabilityName, outcome: StatusName | undefined): number {
  const base = (capabilityBase ??= new Map(names().map((name, i) => [name, i * OUTCOMES]))).get(capability)!;
  return base + (outcome === undefined ? ERROR : STATUS_INDEX.get(outcome)!);
}

/** The labels a code stands for; undefined for a number that is no code. */
export function describeHostCallCode(code: number): { capability: string; outcome: string } | undefined {
  if (!Number.isInteger(code) || code < 0) return undefined;
  const capability = names()[Math.floor(code / OUTCOMES)];
  return capability === undefined ? undefined : { capability, outcome: HOST_CALL_OUTCOMES[code % OUTCOMES]! };
}
