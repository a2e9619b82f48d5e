/**
 * The verge:v1 import module (docs/abi.md): its name, its status codes, and the functions each
 * capability binds. Shared by the worker-side bindings and `verge check`.
 */
export const VERGE_ABI_MODULE = 'verge:v1';

export const Status = {
  OK: 0,
  NOT_FOUND: -1,
  ACCESS_DENIED: -2,
  INVALID_ARGUMENT: -3,
  LIMIT_EXCEEDED: -4,
  UNAVAILABLE: -5,
  CONFLICT: -6,
  TIMEOUT: -7,
  NETWORK: -8,
  NOT_A_NUMBER: -9,
} as const;
export type StatusName = keyof typeof Status;

/** Every verge:v1 function, by capability, so a module importing an unknown one fails at load. */
export const VERGE_ABI_FUNCTIONS = {
  kv: ['kv_open', 'kv_get', 'kv_set', 'kv_delete', 'kv_exists', 'kv_increment', 'kv_compare_and_swap', 'kv_list_keys'],
  'outbound-http': ['http_send', 'http_response_status', 'http_response_headers', 'http_response_body', 'http_close'],
  variables: ['variable_get'],
  logging: ['log'],
} as const;

export const VERGE_ABI_NAMES: ReadonlySet<string> = new Set(Object.values(VERGE_ABI_FUNCTIONS).flat());

/** A refusal or failure a host call reports to the guest as a status code, with a sentence for the log. */
export class HostCallError extends Error {
  constructor(
    readonly status: StatusName,
    message: string,
  ) {
    super(message);
    this.name = 'HostCallError';
  }
}
