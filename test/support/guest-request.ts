/** A plain GET / as the ingress hands it to the pool, for tests that drive workers directly. */
import type { GuestRequest } from '../../src/dispatch/protocol.js';

export function guestRequest(id: string, component: string, version = 'v1'): GuestRequest {
  return {
    id,
    version,
    component,
    method: 'GET',
    url: '/',
    scheme: 'http',
    httpVersion: '1.1',
    rawHeaders: [],
    remoteAddr: '127.0.0.1',
    serverName: 'localhost',
    serverPort: '8080',
    route: '/',
    scriptName: '',
    pathInfo: '',
    params: [],
    body: new Uint8Array(0),
  };
}
