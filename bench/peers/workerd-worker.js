// The workerd peer: what a user would write to run a WAGI (CGI-over-WASI preview1) module on
// workerd. The module is compiled once when the worker loads (it is a `wasm` module in the config);
// every request gets a fresh `new WebAssembly.Instance`, a CGI environment, and a minimal WASI
// preview1 shim; the guest's CGI stdout becomes the Response.
import helloModule from 'hello.wasm';

const ESUCCESS = 0;
const EBADF = 8;
const EINVAL = 28;
const ENOSYS = 52;
const ROUTE_PREFIX = '/api';
const encoder = new TextEncoder();
const decoder = new TextDecoder('latin1');

class ProcExit {
  constructor(code) {
    this.code = code;
  }
}

/** Every preview1 function; the ones the shim does not implement answer ENOSYS. */
const WASI_FUNCTIONS = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
  'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
  'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times',
  'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
  'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'sched_yield', 'random_get', 'sock_accept',
  'sock_recv', 'sock_send', 'sock_shutdown',
];

function wasiImports(state) {
  const mem = () => state.memory.buffer;
  const writeList = (list, ptrs, buf) => {
    const dv = new DataView(mem());
    const u8 = new Uint8Array(mem());
    for (const item of list) {
      dv.setUint32(ptrs, buf, true);
      u8.set(item, buf);
      ptrs += 4;
      buf += item.length;
    }
    return ESUCCESS;
  };
  const sizes = (list, countPtr, sizePtr) => {
    const dv = new DataView(mem());
    let size = 0;
    for (const item of list) size += item.length;
    dv.setUint32(countPtr, list.length, true);
    dv.setUint32(sizePtr, size, true);
    return ESUCCESS;
  };
  const imports = {};
  for (const name of WASI_FUNCTIONS) imports[name] = () => ENOSYS;
  Object.assign(imports, {
    args_get: (argv, buf) => writeList(state.args, argv, buf),
    args_sizes_get: (count, size) => sizes(state.args, count, size),
    environ_get: (environ, buf) => writeList(state.env, environ, buf),
    environ_sizes_get: (count, size) => sizes(state.env, count, size),
    fd_write: (fd, iovs, iovsLen, nwritten) => {
      if (fd !== 1 && fd !== 2) return EBADF;
      const dv = new DataView(mem());
      let total = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = dv.getUint32(iovs + i * 8, true);
        const len = dv.getUint32(iovs + i * 8 + 4, true);
        if (fd === 1) state.stdout.push(new Uint8Array(mem(), ptr, len).slice());
        total += len;
      }
      dv.setUint32(nwritten, total, true);
      return ESUCCESS;
    },
    fd_read: (fd, iovs, iovsLen, nread) => {
      if (fd !== 0) return EBADF;
      const dv = new DataView(mem());
      let total = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = dv.getUint32(iovs + i * 8, true);
        const len = dv.getUint32(iovs + i * 8 + 4, true);
        const n = Math.min(len, state.stdin.length - state.stdinOffset);
        new Uint8Array(mem(), ptr, n).set(state.stdin.subarray(state.stdinOffset, state.stdinOffset + n));
        state.stdinOffset += n;
        total += n;
        if (n < len) break;
      }
      dv.setUint32(nread, total, true);
      return ESUCCESS;
    },
    proc_exit: (code) => {
      throw new ProcExit(code);
    },
    random_get: (buf, len) => {
      for (let off = 0; off < len; off += 65536) {
        crypto.getRandomValues(new Uint8Array(mem(), buf + off, Math.min(65536, len - off)));
      }
      return ESUCCESS;
    },
    clock_time_get: (id, _precision, ptr) => {
      if (id > 3) return EINVAL;
      new DataView(mem()).setBigUint64(ptr, BigInt(Date.now()) * 1000000n, true);
      return ESUCCESS;
    },
  });
  return imports;
}

function cgiEnvironment(request, url, body) {
  const pathInfo = url.pathname.slice(ROUTE_PREFIX.length);
  const vars = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_SOFTWARE: 'workerd',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_NAME: url.hostname,
    SERVER_PORT: url.port || '80',
    REQUEST_METHOD: request.method,
    REQUEST_URI: url.pathname + url.search,
    SCRIPT_NAME: ROUTE_PREFIX,
    PATH_INFO: pathInfo,
    QUERY_STRING: url.search.slice(1),
    REMOTE_ADDR: request.headers.get('cf-connecting-ip') ?? '127.0.0.1',
    X_MATCHED_ROUTE: `${ROUTE_PREFIX}/...`,
    X_FULL_URL: url.href,
    CONTENT_LENGTH: String(body.length),
    CONTENT_TYPE: request.headers.get('content-type') ?? '',
  };
  for (const [name, value] of request.headers) {
    if (name === 'content-type' || name === 'content-length') continue;
    vars['HTTP_' + name.toUpperCase().replace(/-/g, '_')] = value;
  }
  return Object.entries(vars).map(([k, v]) => encoder.encode(`${k}=${v}\0`));
}

function concat(chunks) {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** CGI stdout (headers, blank line, body) → Response. */
function cgiResponse(out) {
  let start = 0;
  const headers = new Headers();
  let status;
  for (;;) {
    const nl = out.indexOf(0x0a, start);
    if (nl === -1) return new Response('bad CGI response: no blank line after the headers', { status: 502 });
    const end = nl > start && out[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === start) {
      start = nl + 1;
      break;
    }
    const line = decoder.decode(out.subarray(start, end));
    start = nl + 1;
    const colon = line.indexOf(':');
    if (colon <= 0) return new Response('bad CGI response: header line without a colon', { status: 502 });
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = parseInt(value, 10);
    else headers.append(name, value);
  }
  if (status === undefined) status = headers.has('location') ? 302 : 200;
  return new Response(out.subarray(start), { status, headers });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(ROUTE_PREFIX + '/')) {
      return Response.json({ error: 'NOT_FOUND', message: 'no route' }, { status: 404 });
    }
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : new Uint8Array(0);
    const state = {
      memory: undefined,
      args: [encoder.encode('hello\0')],
      env: cgiEnvironment(request, url, body),
      stdin: body,
      stdinOffset: 0,
      stdout: [],
    };
    try {
      const instance = new WebAssembly.Instance(helloModule, { wasi_snapshot_preview1: wasiImports(state) });
      state.memory = instance.exports.memory;
      instance.exports._start();
    } catch (err) {
      if (!(err instanceof ProcExit && err.code === 0)) {
        return new Response(`guest failed: ${err instanceof ProcExit ? `exit ${err.code}` : err}`, { status: 500 });
      }
    }
    return cgiResponse(concat(state.stdout));
  },
};
