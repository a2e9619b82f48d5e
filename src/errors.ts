/**
 * The error catalogue. Every error Verge produces has a stable UPPER_SNAKE code, an HTTP status
 * (for errors that answer a request), and who is to blame. docs/errors.md lists the same codes;
 * test/docs-sync.test.ts keeps the two in sync.
 *
 * This is one of Verge's two error families, the one for clients, operators and config authors.
 * The other is what a capability answers a *guest*: HostCallError (capabilities/abi.ts) and its
 * members StoreError and OutboundError, whose status is a verge:v1 status name.
 */
export type Blame = 'client' | 'guest' | 'host' | 'config';

interface CatalogueEntry {
  readonly status: number;
  readonly blame: Blame;
  readonly summary: string;
}

export const ERROR_CATALOGUE = {
  // Answers to requests
  NOT_FOUND: { status: 404, blame: 'client', summary: 'No route matches the request path.' },
  BAD_REQUEST: { status: 400, blame: 'client', summary: 'The request could not be parsed: malformed HTTP, a request target that is neither a path nor an absolute http URL, or a malformed percent-encoding in a route parameter.' },
  PATH_NOT_ALLOWED: { status: 400, blame: 'client', summary: 'The request path climbs above "/" with ".." segments, or has a "\\" or an encoded "/" or "\\" (%2F, %5C) in a segment.' },
  PAYLOAD_TOO_LARGE: { status: 413, blame: 'client', summary: "The request body is larger than the component's max_request_bytes." },
  REQUEST_TIMEOUT: { status: 408, blame: 'client', summary: 'The client did not send the request headers or body in time (slowloris guard); the connection is closed.' },
  HEADERS_TOO_LARGE: { status: 431, blame: 'client', summary: 'The request headers are larger than the ingress allows (16 KiB); the connection is closed.' },
  QUEUE_FULL: { status: 503, blame: 'host', summary: 'Every worker is busy and the admission queue is full; retry after the retry-after header.' },
  QUEUE_TIMEOUT: { status: 503, blame: 'host', summary: "No worker was free to start the request within its component's timeout_ms; retry after the retry-after header." },
  SHUTTING_DOWN: { status: 503, blame: 'host', summary: 'The node is draining before it exits.' },
  DEADLINE_EXCEEDED: { status: 504, blame: 'guest', summary: "The guest did not finish within the component's timeout_ms; its worker was terminated." },
  GUEST_TRAP: { status: 500, blame: 'guest', summary: 'The guest trapped (unreachable, out-of-bounds access, stack overflow, failed memory.grow followed by an abort, ...).' },
  GUEST_EXIT: { status: 500, blame: 'guest', summary: 'The guest called proc_exit with a non-zero code, or a component called wasi:cli/exit before setting a response.' },
  GUEST_MEMORY_FAULT: { status: 500, blame: 'guest', summary: 'The guest handed the host a pointer or length outside its linear memory.' },
  GUEST_BAD_RESPONSE: { status: 502, blame: 'guest', summary: 'The guest wrote a malformed CGI response (no header block, a bad header line, an invalid status), or a component set no response or an error-code.' },
  RESPONSE_TOO_LARGE: { status: 502, blame: 'guest', summary: "The guest wrote more than the component's max_response_bytes." },
  RESERVED_HOST: { status: 400, blame: 'client', summary: 'The Host header (or the authority of an absolute-form target) names verge.internal or a host under it, which only chained calls inside the node use: it is refused, never routed.' },
  WORKER_CRASHED: { status: 500, blame: 'host', summary: 'The worker thread running the request died; it was replaced.' },
  INTERNAL: { status: 500, blame: 'host', summary: 'An unexpected error in Verge itself.' },
  // Bundles: `verge bundle`, and a bundle uploaded to a node
  BUNDLE_INVALID: { status: 400, blame: 'client', summary: 'A bundle cannot be packed or unpacked: a path that is absolute, climbs out with "..", or has a backslash or control character; a link, device or extension entry; a corrupt or truncated archive; no verge.toml, or a module it needs missing; a file outside the app folder.' },
  BUNDLE_TOO_LARGE: { status: 413, blame: 'client', summary: 'A bundle is over a cap: one file, all files uncompressed, the number of files and folders, or the compressed upload; refused as the bytes stream, before the rest is read.' },
  // Signed modules (docs/signing.md): an upload is answered with these; a load from disk fails with them.
  SIGNATURE_MISSING: { status: 422, blame: 'client', summary: 'The node requires signatures and the module (or the manifest) carries none: no signature section first in the module and no detached signature.' },
  SIGNATURE_INVALID: { status: 422, blame: 'client', summary: 'A signature by a trusted key does not match: the module or manifest changed after it was signed (code or data edited, a section added or removed), or the signature data is malformed or misplaced.' },
  SIGNATURE_UNSUPPORTED: { status: 422, blame: 'client', summary: 'The signature uses a spec version, content type, hash function or signature algorithm Verge does not implement, or signs the module in parts (partial signatures).' },
  SIGNATURE_UNTRUSTED: { status: 422, blame: 'client', summary: 'The module or manifest is signed, but by no key this node trusts.' },
  KEY_REVOKED: { status: 422, blame: 'client', summary: "Every trusted key that signed the module or manifest is in the node's revocation list." },
  // Load, check and build errors (no request involved)
  MANIFEST_INVALID: { status: 0, blame: 'config', summary: 'verge.toml is missing, is not valid TOML, or breaks the schema; the message names the file, the key and what was expected.' },
  MODULE_INVALID: { status: 0, blame: 'config', summary: 'A component source is missing, is not a WebAssembly module or component, does not validate, or cannot be transpiled.' },
  MODULE_TOO_LARGE: { status: 0, blame: 'config', summary: 'A component source is larger than the module size limit (checked before compiling).' },
  MODULE_MEMORY: { status: 0, blame: 'config', summary: "A module's memory is unsupported (imported, shared, 64-bit, more than one) or its initial size is over the component's memory_mib." },
  COMPONENT_ASYNC: { status: 0, blame: 'config', summary: "A component uses the component model's async ABI (WASI 0.3: async functions, streams, futures) or its threads, which Verge does not run." },
  MODULE_IMPORT: { status: 0, blame: 'config', summary: 'A module imports a function, or a component an interface, that Verge does not provide.' },
  DEPENDENCY_INVALID: { status: 0, blame: 'config', summary: "A component's dependency cannot satisfy its import: it does not export the interface, a function or value type differs between the import and the export, the interface uses resources or async types Verge does not link, or a dependency key matches none of the component's imports; the message names both components and the interface." },
  VARIABLE_MISSING: { status: 0, blame: 'config', summary: 'A required variable has no value (from VERGE_VAR_NAME in the environment or the --env-file), or the env file cannot be read.' },
  LISTEN_FAILED: { status: 0, blame: 'config', summary: 'verge up could not listen on the --listen or --admin address (in use, not on this machine, or a privileged port); everything already started is stopped and it exits 1.' },
  TLS_CONFIG_INVALID: { status: 0, blame: 'config', summary: 'A --tls-cert/--tls-key or --admin-tls-cert/--admin-tls-key file is missing, unreadable or not PEM, the key is encrypted or does not match the certificate, or only one of a pair is given; the message names the flag and the file.' },
  CLUSTER_CONFIG_INVALID: { status: 0, blame: 'config', summary: 'A --cluster URL, --node-id, --region or --cluster-creds-file that verge up cannot use; the message names the flag (never the credentials).' },
  TELEMETRY_CONFIG_INVALID: { status: 0, blame: 'config', summary: 'An OTEL_* variable that configures trace export has a value Verge does not accept (an unknown sampler or protocol, a ratio outside 0..1, a batch size that is not a positive integer); the message names the variable.' },
  BUILD_FAILED: { status: 0, blame: 'config', summary: "A component's build command failed." },
  SCAFFOLD_REFUSED: { status: 0, blame: 'config', summary: 'verge new refused: the app name is not valid, the template is unknown, or the target folder exists and is not empty.' },
  KEY_INVALID: { status: 0, blame: 'config', summary: 'A key file, the trust file or the revocation list is missing, unreadable, readable by others (a private key) or not in the expected format, or verge keygen would overwrite a key file; the message names the file and what was expected.' },
  APP_CONFLICT: { status: 0, blame: 'config', summary: 'An app routes a path that another app on the node already routes for the same hosts; the message names both apps and the route.' },
  // The admin API and deploys (docs/deploy.md)
  ADMIN_UNAUTHORIZED: { status: 401, blame: 'client', summary: 'An admin API call (or /metrics off loopback) without the bearer token, or with a wrong one.' },
  ADMIN_TOKEN_REQUIRED: { status: 0, blame: 'config', summary: 'The admin listener is not on loopback and no token is configured (VERGE_ADMIN_TOKEN or --admin-token-file); the node does not start.' },
  ADMIN_TOKEN_INVALID: { status: 0, blame: 'config', summary: 'The admin token file cannot be read, or the token is shorter than 16 characters or has spaces.' },
  APP_NOT_FOUND: { status: 404, blame: 'client', summary: 'The admin API names an app this node has no version or deployment of.' },
  VERSION_NOT_FOUND: { status: 404, blame: 'client', summary: 'The admin API names a version the app does not have (or a prefix matching several), or a rollback has nothing earlier to go back to.' },
  VERSION_IN_USE: { status: 409, blame: 'client', summary: 'A version in the active deployment cannot be deleted.' },
  VERSION_CORRUPT: { status: 500, blame: 'host', summary: "A stored version's files no longer hash to its id (edited on disk), or a bundle in the cluster's bundle store does not hash to the id it is stored under: it is not loaded." },
  DEPLOYMENT_INVALID: { status: 400, blame: 'client', summary: 'A deploy or rollback request is malformed: no version with a weight above 0, a bad weight, sticky or auto_rollback setting, a version listed twice.' },
  APP_MISMATCH: { status: 400, blame: 'client', summary: "The uploaded bundle's verge.toml names another app than the URL." },
  APP_NOT_DEPLOYABLE: { status: 409, blame: 'client', summary: 'The app is served from a path on this node (verge up PATH); the admin API does not deploy over it.' },
  CLUSTER_UNAVAILABLE: { status: 503, blame: 'host', summary: 'The node is in a cluster but cannot reach NATS (or its deploy buckets) now: a deploy or rollback through it is refused rather than served here alone.' },
  CLUSTER_DEPLOY_CONFLICT: { status: 409, blame: 'client', summary: "The cluster's deployment of the app changed since this node last read it (a deploy through another node): nothing was changed; retry." },
  // The dashboard's calls on the admin API (docs/observability.md)
  REQUEST_NOT_FOUND: { status: 404, blame: 'client', summary: 'The request id is not among the last requests the node keeps (500 by default), or was never answered by this node.' },
  TRACE_NOT_FOUND: { status: 404, blame: 'client', summary: 'The node keeps the request but no trace of it: tracing is off (OTEL_SDK_DISABLED=true), the request was not sampled (the sampler left it out, or its caller marked it unsampled), or newer traces pushed its trace out.' },
  KV_STORE_NOT_FOUND: { status: 404, blame: 'client', summary: 'The app declares no key-value store of that name.' },
  KV_KEY_NOT_FOUND: { status: 404, blame: 'client', summary: 'The store has no such key (or the key is empty or longer than 512 bytes).' },
  KV_STORE_UNAVAILABLE: { status: 503, blame: 'host', summary: 'The store could not be read (its backend is failing or locked); the message says why.' },
  KV_WRITES_DISABLED: { status: 403, blame: 'client', summary: 'A key-value write (PUT or DELETE) through the admin API on a node started without --kv-writes.' },
  KV_VALUE_TOO_LARGE: { status: 413, blame: 'client', summary: 'A value written through the admin API is larger than the store value limit (1 MiB).' },
  // Observability (docs/observability.md)
  LOGS_QUERY_INVALID: { status: 400, blame: 'client', summary: 'GET /v1/logs was given an unknown parameter, a level that is not a log level, a limit out of range or a filter that is too long.' },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A problem with a file the user wrote, as data (`verge check --json` and the admin API return these). */
export interface ProblemDetail {
  file: string;
  path: string;
  message: string;
}

/** What a failing guest said and where it was: its panic or abort message and its symbolized Wasm backtrace. */
export interface GuestFailureDetail {
  panic?: string;
  /** Innermost first: `name (wasm-function[N]:0xOFFSET)`. */
  backtrace?: string[];
}

export class VergeError extends Error {
  readonly code: ErrorCode;
  /** For config errors: each problem found, with the file and key path it is about. */
  readonly problems: readonly ProblemDetail[] | undefined;
  /** For a guest's trap or failing exit: its last words and backtrace, when the worker found them. */
  readonly guest: GuestFailureDetail | undefined;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; problems?: readonly ProblemDetail[]; guest?: GuestFailureDetail | undefined }) {
    super(message, options);
    this.name = 'VergeError';
    this.code = code;
    this.problems = options?.problems;
    this.guest = options?.guest;
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get blame(): Blame {
    return ERROR_CATALOGUE[this.code].blame;
  }
}

export function isVergeError(err: unknown, code?: ErrorCode): err is VergeError {
  return err instanceof VergeError && (code === undefined || err.code === code);
}
