/**
 * verge:v1 http_* for WAGI modules. The guest's request is decoded and checked for shape here;
 * the allow-list, SSRF rules, redirects and limits are applied on the main thread (fetch.ts),
 * where the network is.
 */
import { HostCallError, Status } from '../../abi.js';
import type { GuestScope } from '../../../sandbox/scope.js';
import { outboundAccess } from '../access.js';

const encoder = new TextEncoder();

/** `name: value` lines separated by \n (the ABI's header block). CR anywhere is refused. */
export function parseHeaderLines(text: string): Array<[string, string]> {
  if (text.includes('\r') || text.includes('\0')) throw new HostCallError('INVALID_ARGUMENT', 'http_send: headers may not contain CR or NUL');
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HostCallError('INVALID_ARGUMENT', `http_send: header line without "name:": ${JSON.stringify(line.slice(0, 80))}`);
    out.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  return out;
}

export function outboundImports(scope: GuestScope) {
  const mem = scope.memory;
  const http = outboundAccess(scope);
  const text = (ptr: number, len: number, what: string) => {
    const s = mem.string(ptr, len, 'http_send');
    if (s === undefined) throw new HostCallError('INVALID_ARGUMENT', `http_send: the ${what} is not valid UTF-8`);
    return s;
  };
  return {
    http_send: (mPtr: number, mLen: number, uPtr: number, uLen: number, hPtr: number, hLen: number, bPtr: number, bLen: number) =>
      scope.guard('http_send', () =>
        http.send({
          method: text(mPtr, mLen, 'method'),
          url: text(uPtr, uLen, 'URL'),
          headers: parseHeaderLines(text(hPtr, hLen, 'header block')),
          body: mem.copy(bPtr, bLen, 'http_send'),
        }),
      ),
    http_response_status: (handle: number) => scope.guard('http_response_status', () => http.response(handle).status),
    http_response_headers: (handle: number, outPtr: number, outCap: number) =>
      scope.guard('http_response_headers', () => {
        const lines = http.response(handle).headers.map(([n, v]) => `${n.toLowerCase()}: ${v}\n`).join('');
        return mem.writeOut(outPtr, outCap, encoder.encode(lines), 'http_response_headers');
      }),
    http_response_body: (handle: number, outPtr: number, outCap: number) =>
      scope.guard('http_response_body', () => mem.writeOut(outPtr, outCap, http.response(handle).body, 'http_response_body')),
    http_close: (handle: number) =>
      scope.guard('http_close', () => {
        http.close(handle);
        return Status.OK;
      }),
  };
}
