/** Connection-level limits (slowloris, oversized headers, idle connections); per-route limits live in the manifest. */
export const INGRESS_LIMITS = {
  /** HTTP/1.1: the raw header bytes; HTTP/2: SETTINGS_MAX_HEADER_LIST_SIZE (names, values and 32 bytes a field). */
  maxHeaderBytes: 16 * 1024,
  /** HTTP/1.1: time to receive the headers; over TLS also the time to finish the handshake. */
  headersTimeoutMs: 10_000,
  /** Time to receive the whole request, headers and body. */
  requestTimeoutMs: 60_000,
  /** How long an idle connection stays open: an HTTP/1.1 keep-alive, an HTTP/2 session with no open stream. */
  keepAliveTimeoutMs: 5_000,
  /** After a 413, how long the rest of the body is read and thrown away before the connection is dropped. */
  discardBodyMs: 5_000,
  /** How often node:http looks for connections past the two timeouts above. */
  connectionsCheckingIntervalMs: 1_000,
  /**
   * Requests one HTTP/2 connection may have open at once (RFC 9113 §6.5.2 recommends at least
   * 100). Each may be buffering a body up to its route's max_request_bytes, as one HTTP/1.1
   * connection does for one request.
   */
  http2MaxConcurrentStreams: 100,
} as const;
