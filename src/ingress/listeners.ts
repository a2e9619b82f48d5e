/**
 * The connections under the ingress: plain HTTP/1.1, or TLS offering HTTP/2 and HTTP/1.1 by ALPN.
 * Both get the same connection limits (slowloris timeouts, a header cap, an idle bound) and the
 * same drain. node:http enforces its limits itself; HTTP/2 has none of them, so its equivalents
 * are kept here.
 */
import http from 'node:http';
import type http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { lazyRequire } from '../lazy-require.js';
import { INGRESS_LIMITS } from './limits.js';

/** node:http2 costs ~10 ms of start-up on the main thread and only a TLS listener uses it. */
export const loadHttp2 = lazyRequire<typeof http2>('node:http2');

/** A request and its response, told apart by protocol: the two compatibility APIs differ in typing and in a few behaviours. */
export type Exchange =
  | { http2: false; req: http.IncomingMessage; res: http.ServerResponse }
  | { http2: true; req: http2.Http2ServerRequest; res: http2.Http2ServerResponse };

export interface ListenerHandlers {
  request(exchange: Exchange): void;
  /** An HTTP/1.1 request node:http could not parse, or that came too slowly (its clientError). */
  clientError(err: NodeJS.ErrnoException, socket: Duplex): void;
  /** A TLS handshake that failed or timed out: there is no HTTP to answer in, the socket is destroyed. */
  handshakeError(err: NodeJS.ErrnoException, socket: Duplex): void;
}

export interface Listener {
  readonly server: http.Server | http2.Http2SecureServer;
  /** Stops accepting; idle HTTP/1.1 connections close, HTTP/2 sessions get GOAWAY and close when their open streams end. */
  stopAccepting(): void;
  /** Ends every connection still open (the end of a drain). */
  closeAllConnections(): void;
}

/** What node:http reads from its server object on each connection, for both listeners to share. */
const HTTP1_LIMITS = {
  maxHeaderSize: INGRESS_LIMITS.maxHeaderBytes,
  requestTimeout: INGRESS_LIMITS.requestTimeoutMs,
  headersTimeout: INGRESS_LIMITS.headersTimeoutMs,
  connectionsCheckingInterval: INGRESS_LIMITS.connectionsCheckingIntervalMs,
  keepAliveTimeout: INGRESS_LIMITS.keepAliveTimeoutMs,
  requireHostHeader: true,
} as const;

export function plainListener(handlers: ListenerHandlers): Listener {
  const server = http.createServer(HTTP1_LIMITS, (req, res) => handlers.request({ http2: false, req, res }));
  server.on('clientError', handlers.clientError);
  return {
    server,
    stopAccepting() {
      server.close();
      server.closeIdleConnections();
    },
    closeAllConnections: () => server.closeAllConnections(),
  };
}

export function secureListener(context: SecureContextOptions, handlers: ListenerHandlers): Listener {
  const http2 = loadHttp2();
  const server = http2.createSecureServer(
    {
      ...context,
      allowHTTP1: true,
      handshakeTimeout: INGRESS_LIMITS.headersTimeoutMs,
      settings: { maxHeaderListSize: INGRESS_LIMITS.maxHeaderBytes, maxConcurrentStreams: INGRESS_LIMITS.http2MaxConcurrentStreams },
    },
    (req, res) =>
      handlers.request(
        req instanceof http2.Http2ServerRequest
          ? { http2: true, req, res: res as http2.Http2ServerResponse }
          : { http2: false, req: req as http.IncomingMessage, res: res as unknown as http.ServerResponse },
      ),
  );
  // The HTTP/1.1 fallback runs node:http's connection code, which reads these from the server;
  // createSecureServer sets only some of them (a 5-minute request timeout, no keep-alive bound).
  Object.assign(server, HTTP1_LIMITS);

  const connections = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    connections.add(socket);
    socket.once('close', () => connections.delete(socket));
  });
  // node re-emits TLS failures as clientError too; only an established connection has HTTP to answer in.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (connections.has(socket as TLSSocket)) {
      handlers.clientError(err, socket);
      return;
    }
    handlers.handshakeError(err, socket);
    socket.destroy();
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    closeWhenIdle(session);
  });

  return {
    server,
    stopAccepting() {
      // With allowHTTP1, close() also closes the idle HTTP/1.1 connections.
      server.close();
      for (const session of sessions) session.close();
    },
    closeAllConnections() {
      for (const socket of connections) socket.destroy();
    },
  };
}

/**
 * HTTP/2's keep-alive bound, and its guard against a client that connects and never finishes a
 * request: a session with no open stream for keepAliveTimeoutMs is closed (GOAWAY). node's own
 * session timeout counts silence on the socket, so it would also end a session whose only request
 * is waiting for a slow guest.
 */
function closeWhenIdle(session: http2.ServerHttp2Session): void {
  let open = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    timer = setTimeout(() => session.close(), INGRESS_LIMITS.keepAliveTimeoutMs).unref();
  };
  session.on('stream', (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(timer);
    stream.once('close', () => {
      if (--open === 0 && !session.closed && !session.destroyed) arm();
    });
  });
  session.once('close', () => clearTimeout(timer));
  arm();
}
