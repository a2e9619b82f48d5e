/**
 * Test support for the outbound HTTP tests: local listeners on 127.0.0.1 that count what reaches
 * them, and a private CA with a certificate for api.verge.test and 127.0.0.1 (valid until 2126;
 * test-only keys, trusted nowhere but in these tests).
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import assert from 'node:assert/strict';
import { OutboundError, type OutboundErrorCode } from './errors.js';

export const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBlzCCAT2gAwIBAgIUSOi3vCJePKifCcci4XslPkfAtyQwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNVmVyZ2UgdGVzdCBDQTAgFw0yNjExMjEyMzQ1MDFaGA8yMTI2
MTAyODIzNDUwMVowGDEWMBQGA1UEAwwNVmVyZ2UgdGVzdCBDQTBZMBMGByqGSM49
AgEGCCqGSM49AwEHA0IABFdlSzUwVC1peo99LH8boK4fWHvfWpN+hEypKJ9QOfeW
oVgG0GdOrymDCI8qC/ciG06VaRjo2qh6gDCvHtEMNJqjYzBhMB0GA1UdDgQWBBQJ
TISMmKhki5cWcGQxirb7KiyapzAfBgNVHSMEGDAWgBQJTISMmKhki5cWcGQxirb7
KiyapzAPBgNVHRMBAf8EBTADAQH/MA4GA1UdDwEB/wQEAwICBDAKBggqhkjOPQQD
AgNIADBFAiEAx5LRnD3VgZ5J+w1mEzYhQZQHcJOAJMA49f/r1dWElV0CICppZ6rS
7aRJ0LxNowVwhg7SEGC9u7FdfAGC69l1Cin0
-----END CERTIFICATE-----
`;

export const TEST_SERVER_CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIBujCCAWCgAwIBAgIUdCzdgVpQp6SUWTmJGM5lWvdLdBYwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNVmVyZ2UgdGVzdCBDQTAgFw0yNjExMjEyMzQ1MDFaGA8yMTI2
MTAyODIzNDUwMVowGTEXMBUGA1UEAwwOYXBpLnZlcmdlLnRlc3QwWTATBgcqhkjO
PQIBBggqhkjOPQMBBwNCAAT0ul4VMzw1LdeHmfBcG4XwoZ6cunKx4S+OJgSgZryU
R1Eq2V3zFf5XKL47bc5r0P3LBHK8wSvDQjx0eVVgkuDSo4GEMIGBMB8GA1UdEQQY
MBaCDmFwaS52ZXJnZS50ZXN0hwR/AAABMAkGA1UdEwQCMAAwEwYDVR0lBAwwCgYI
KwYBBQUHAwEwHQYDVR0OBBYEFDvLD2wCqYi2dicYeF96e0xr61SjMB8GA1UdIwQY
MBaAFAlMhIyYqGSLlxZwZDGKtvsqLJqnMAoGCCqGSM49BAMCA0gAMEUCIDNHDX0A
pQiHr2NQ4BLpy6+fO5+QeBC7Dt0UOnv9U8oDAiEAtHjVIeBBB2SP2XrSuorP5F4R
4Y+cE5Fj1t//s3zFq8g=
-----END CERTIFICATE-----
`;

export const TEST_SERVER_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoEe66ilJdIuSKamc
sZTiiF93QR3aIedn6R5IbWIopF+hRANCAAT0ul4VMzw1LdeHmfBcG4XwoZ6cunKx
4S+OJgSgZryUR1Eq2V3zFf5XKL47bc5r0P3LBHK8wSvDQjx0eVVgkuDS
-----END PRIVATE KEY-----
`;

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

export interface Listener {
  readonly port: number;
  /** `http://127.0.0.1:<port>` (or https). */
  readonly origin: string;
  /** Every request that reached the listener, body included. */
  readonly received: Received[];
  /** TCP connections accepted (a request that never gets parsed still counts here). */
  readonly connections: () => number;
  close(): Promise<void>;
}

export type Handler = (req: Received, res: ServerResponse) => void;

/** Starts a listener on 127.0.0.1, port 0. `handler` answers after the body is read. */
export async function listen(handler: Handler = (_req, res) => res.end('ok'), opts: { tls?: boolean } = {}): Promise<Listener> {
  const received: Received[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const onRequest: RequestListener = (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      handler(r, res);
    });
  };
  const server: Server = opts.tls
    ? createHttpsServer({ cert: TEST_SERVER_CERT_PEM, key: TEST_SERVER_KEY_PEM }, onRequest)
    : createServer(onRequest);
  const onSocket = (s: Socket): void => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  server.on('connection', onSocket);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    origin: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    received,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 with nothing listening (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Awaits `promise`, asserting it rejects with an OutboundError of `code` (and `message`). */
export async function rejectsWith(promise: Promise<unknown>, code: OutboundErrorCode, message?: RegExp): Promise<OutboundError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof OutboundError, `expected an OutboundError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}, but the call succeeded`);
}
