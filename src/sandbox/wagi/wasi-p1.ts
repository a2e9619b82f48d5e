/**
 * WASI preview1, implemented by Verge for one request at a time. node:wasi is documented as no
 * sandbox, so every call here is written against what a WAGI handler needs and nothing more: no
 * sockets, stdin from the request body, stdout into a capped buffer, stderr to the log, and a
 * read-only file system only over the files the component mounts (capabilities/files). Every pointer and length the guest passes is bounds-checked; a bad one is the guest's fault
 * and ends its request, never the host.
 *
 * The import object is built once per worker; the per-request state lives in a `WasiRequest` that
 * the worker swaps in before each run, so no closures are allocated per request.
 */
import { randomFillSync } from 'node:crypto';
import { GuestMemory } from '../guest-memory.js';
import { Errno } from './errno.js';
import { createPreview1FileImports, type FdTable } from '../../capabilities/files/bindings/wasi-p1.js';

export const WASI_MODULE = 'wasi_snapshot_preview1';

export { Errno };

const FILETYPE_CHARACTER_DEVICE = 2;
const CLOCK_REALTIME = 0;
const CLOCK_MONOTONIC = 1;
const CLOCK_PROCESS_CPUTIME = 2;
const CLOCK_THREAD_CPUTIME = 3;
const EVENTTYPE_CLOCK = 0;
const EVENTTYPE_FD_WRITE = 2;
const SUBCLOCKFLAG_ABSTIME = 1;
const RIGHTS_STDIO = 0x0000_0000_0820_0002n | 0x0000_0000_0000_0040n; // fd_read | fd_write | poll_fd_readwrite

/** The guest ended with proc_exit. */
export class ProcExit {
  /** For a failing exit, where the guest called it from (its Wasm frames name the caller of abort). */
  readonly stack: string | undefined;
  constructor(readonly code: number) {
    this.stack = code === 0 ? undefined : new Error('proc_exit').stack;
  }
}

/** Receives what the guest writes; may throw to end the request (a cap was passed). */
export interface OutputSink {
  write(bytes: Uint8Array): void;
}

export interface WasiRequest {
  memory: WebAssembly.Memory | undefined;
  /** argv. */
  args: CStringList;
  /** environ, each `NAME=value`. */
  env: CStringList;
  stdin: Uint8Array;
  stdinOffset: number;
  stdout: OutputSink;
  stderr: OutputSink;
  /** Monotonic start, for the CPU-time clocks (one request per worker, so wall time is the guest's). */
  startedNs: bigint;
  /** Descriptors 3 and up: the component's mounted files (`files`), absent when it mounts none. */
  files?: FdTable | undefined;
}

/** NUL-terminated UTF-8 strings packed in one buffer, the way args_get and environ_get hand them over. */
export interface CStringList {
  bytes: Uint8Array;
  /** Where each string starts in `bytes`. */
  starts: number[];
}

/**
 * Packs strings into a buffer it reuses, so building a request's environment allocates almost
 * nothing; the list it returns is valid until the next `reset`.
 */
export class CStringListBuilder {
  private buf = Buffer.allocUnsafe(4096);
  private length = 0;
  private starts: number[] = [];

  reset(): this {
    this.length = 0;
    this.starts = [];
    return this;
  }

  add(s: string): this {
    this.begin(s.length);
    this.put(s);
    this.buf[this.length++] = 0;
    return this;
  }

  /** `name=value`, without building the joined string first. */
  addPair(name: string, value: string): this {
    this.begin(name.length + 1 + value.length);
    this.put(name);
    this.buf[this.length++] = 0x3d;
    this.put(value);
    this.buf[this.length++] = 0;
    return this;
  }

  /**
   * Appends `s` as UTF-8. A request's variables are short and nearly all ASCII: copied here a
   * code unit at a time, they cost a fraction of a call into Buffer#write each (measured with
   * bench/lib/cgi-environment.ts: wrk's environment 2.7 → 0.9 µs, of a put-back hello request's
   * ~17 µs in the worker). The rest from the first other character goes through Buffer#write.
   */
  private put(s: string): void {
    const buf = this.buf;
    let at = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.length = at + buf.write(i === 0 ? s : s.slice(i), at, 'utf8');
        return;
      }
      buf[at++] = c;
    }
    this.length = at;
  }

  list(): CStringList {
    return { bytes: this.buf.subarray(0, this.length), starts: this.starts };
  }

  /** Makes room for a string of `units` UTF-16 units (at most 3 UTF-8 bytes each) and its NUL. */
  private begin(units: number): void {
    const needed = this.length + units * 3 + 1;
    if (needed > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    this.starts.push(this.length);
  }
}

export function cStringList(strings: string[]): CStringList {
  const b = new CStringListBuilder();
  for (const s of strings) b.add(s);
  const { bytes, starts } = b.list();
  return { bytes: Uint8Array.from(bytes), starts };
}

export type WasiImports = Record<string, (...args: never[]) => number | bigint | void>;

/** Names of every preview1 function, so `verge check` can tell a typo from a missing feature. */
export const WASI_P1_FUNCTIONS = [
  'args_get', 'args_sizes_get', 'environ_get', 'environ_sizes_get', 'clock_res_get', 'clock_time_get',
  'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get', 'fd_fdstat_set_flags',
  'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size', 'fd_filestat_set_times', 'fd_pread',
  'fd_prestat_get', 'fd_prestat_dir_name', 'fd_pwrite', 'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek',
  'fd_sync', 'fd_tell', 'fd_write', 'path_create_directory', 'path_filestat_get', 'path_filestat_set_times',
  'path_link', 'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
  'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'sched_yield', 'random_get', 'sock_accept',
  'sock_recv', 'sock_send', 'sock_shutdown',
] as const;

export function createWasiImports(current: () => WasiRequest): WasiImports {
  const sleeper = new Int32Array(new SharedArrayBuffer(4));

  const mem = new GuestMemory(() => current().memory);
  /** Checks [ptr, ptr+len) lies inside the memory; returns ptr as an unsigned number. */
  const range = (ptr: number, len: number, what: string): number => mem.range(ptr, len, what);
  // range() may replace mem.dv (after memory.grow), so it runs before mem.dv is read.
  const setU32 = (ptr: number, value: number, what: string) => {
    const at = range(ptr, 4, what);
    mem.dv.setUint32(at, value, true);
  };
  const setU64 = (ptr: number, value: bigint, what: string) => {
    const at = range(ptr, 8, what);
    mem.dv.setBigUint64(at, value, true);
  };

  const writeList = (list: CStringList, ptrsPtr: number, bufPtr: number, what: string): number => {
    const ptrs = range(ptrsPtr, list.starts.length * 4, what);
    const buf = range(bufPtr, list.bytes.length, what);
    mem.u8.set(list.bytes, buf);
    for (let i = 0; i < list.starts.length; i++) mem.dv.setUint32(ptrs + i * 4, buf + list.starts[i]!, true);
    return Errno.SUCCESS;
  };
  const listSizes = (list: CStringList, countPtr: number, sizePtr: number, what: string): number => {
    setU32(countPtr, list.starts.length, what);
    setU32(sizePtr, list.bytes.length, what);
    return Errno.SUCCESS;
  };

  const clockNow = (id: number): bigint | undefined => {
    switch (id) {
      case CLOCK_REALTIME:
        return BigInt(Date.now()) * 1_000_000n;
      case CLOCK_MONOTONIC:
        return process.hrtime.bigint();
      case CLOCK_PROCESS_CPUTIME:
      case CLOCK_THREAD_CPUTIME:
        return process.hrtime.bigint() - current().startedNs;
      default:
        return undefined;
    }
  };

  /** Walks an iovec array, calling `each(ptr, len)` for each checked buffer; sums what `each` returns. */
  const iovecs = (iovs: number, count: number, what: string, each: (at: number, len: number) => number): number => {
    range(iovs, (count >>> 0) * 8, what);
    let total = 0;
    for (let i = 0; i < count >>> 0; i++) {
      const base = iovs + i * 8;
      const ptr = mem.dv.getUint32(base >>> 0, true);
      const len = mem.dv.getUint32((base + 4) >>> 0, true);
      const at = range(ptr, len, what);
      const n = each(at, len);
      total += n;
      if (n < len) break;
    }
    return total;
  };

  const isStdio = (fd: number) => fd >= 0 && fd <= 2;
  const notSocket = (fd: number) => (isStdio(fd) ? Errno.NOTSOCK : Errno.BADF);
  const files = createPreview1FileImports(mem, () => current().files);
  type Call = (fd: number, ...rest: never[]) => number;
  /** stdio's answer for descriptors 0-2, the mounted files' for the others. */
  const split = (name: string, stdio: Call): Call => {
    const other = files[name] as Call;
    return (fd, ...rest) => (isStdio(fd) ? stdio(fd, ...rest) : other(fd, ...rest));
  };
  /** Path calls take a folder descriptor: stdio is not one. */
  const path = (name: string): Call => split(name, () => Errno.NOTDIR);

  const imports: WasiImports = {
    args_get: (argv: number, buf: number) => writeList(current().args, argv, buf, 'args_get'),
    args_sizes_get: (count: number, size: number) => listSizes(current().args, count, size, 'args_sizes_get'),
    environ_get: (environ: number, buf: number) => writeList(current().env, environ, buf, 'environ_get'),
    environ_sizes_get: (count: number, size: number) => listSizes(current().env, count, size, 'environ_sizes_get'),

    clock_res_get: (id: number, resPtr: number) => {
      if (clockNow(id) === undefined) return Errno.INVAL;
      setU64(resPtr, id === CLOCK_REALTIME ? 1_000_000n : 1_000n, 'clock_res_get');
      return Errno.SUCCESS;
    },
    clock_time_get: (id: number, _precision: bigint, timePtr: number) => {
      const now = clockNow(id);
      if (now === undefined) return Errno.INVAL;
      setU64(timePtr, now, 'clock_time_get');
      return Errno.SUCCESS;
    },

    fd_read: split('fd_read', (fd: number, iovs: number, iovsLen: number, nread: number) => {
      if (fd !== 0) return Errno.BADF;
      const req = current();
      const total = iovecs(iovs, iovsLen, 'fd_read', (at, len) => {
        const n = Math.min(len, req.stdin.length - req.stdinOffset);
        if (n > 0) mem.u8.set(req.stdin.subarray(req.stdinOffset, req.stdinOffset + n), at);
        req.stdinOffset += n;
        return n;
      });
      setU32(nread, total, 'fd_read');
      return Errno.SUCCESS;
    }),
    fd_write: split('fd_write', (fd: number, iovs: number, iovsLen: number, nwritten: number) => {
      const req = current();
      const sink = fd === 1 ? req.stdout : fd === 2 ? req.stderr : undefined;
      if (!sink) return Errno.BADF;
      const total = iovecs(iovs, iovsLen, 'fd_write', (at, len) => {
        if (len > 0) sink.write(mem.u8.subarray(at, at + len));
        return len;
      });
      setU32(nwritten, total, 'fd_write');
      return Errno.SUCCESS;
    }),
    // As wasmtime answers: positional I/O on a stream is a seek on a pipe (ESPIPE) where the
    // direction fits the stream, and a bad descriptor where it does not.
    fd_pread: split('fd_pread', (fd: number) => (fd === 0 ? Errno.SPIPE : Errno.BADF)),
    fd_pwrite: split('fd_pwrite', (fd: number) => (fd === 1 || fd === 2 ? Errno.SPIPE : Errno.BADF)),
    fd_close: split('fd_close', () => Errno.SUCCESS),
    fd_fdstat_get: split('fd_fdstat_get', (_fd: number, ptr: number) => {
      const at = range(ptr, 24, 'fd_fdstat_get');
      mem.u8.fill(0, at, at + 24);
      mem.dv.setUint8(at, FILETYPE_CHARACTER_DEVICE);
      mem.dv.setBigUint64(at + 8, RIGHTS_STDIO, true);
      return Errno.SUCCESS;
    }),
    fd_fdstat_set_flags: split('fd_fdstat_set_flags', () => Errno.NOTSUP),
    fd_fdstat_set_rights: split('fd_fdstat_set_rights', () => Errno.NOTCAPABLE),
    fd_filestat_get: split('fd_filestat_get', (_fd: number, ptr: number) => {
      const at = range(ptr, 64, 'fd_filestat_get');
      mem.u8.fill(0, at, at + 64);
      mem.dv.setUint8(at + 16, FILETYPE_CHARACTER_DEVICE);
      return Errno.SUCCESS;
    }),
    // ftruncate on a pipe or a terminal is EINVAL in POSIX; ESPIPE is for seeks.
    fd_filestat_set_size: split('fd_filestat_set_size', () => Errno.INVAL),
    fd_filestat_set_times: split('fd_filestat_set_times', () => Errno.NOTCAPABLE),
    fd_advise: split('fd_advise', () => Errno.SPIPE),
    fd_allocate: split('fd_allocate', () => Errno.SPIPE),
    fd_datasync: split('fd_datasync', () => Errno.INVAL),
    fd_sync: split('fd_sync', () => Errno.INVAL),
    fd_seek: split('fd_seek', () => Errno.SPIPE),
    fd_tell: split('fd_tell', () => Errno.SPIPE),
    // Preopened folders are 3 and up; libc stops scanning at the first EBADF.
    fd_prestat_get: split('fd_prestat_get', () => Errno.BADF),
    fd_prestat_dir_name: split('fd_prestat_dir_name', () => Errno.BADF),
    fd_readdir: split('fd_readdir', () => Errno.NOTDIR),
    fd_renumber: files.fd_renumber!,

    // Every path call is relative to a folder descriptor: stdio is not one, and without mounted
    // files no other descriptor is open. (libc answers ENOTCAPABLE itself, before calling these,
    // for a path under no preopened folder.)
    path_create_directory: path('path_create_directory'),
    path_filestat_get: path('path_filestat_get'),
    path_filestat_set_times: path('path_filestat_set_times'),
    path_link: path('path_link'),
    path_open: path('path_open'),
    path_readlink: path('path_readlink'),
    path_remove_directory: path('path_remove_directory'),
    path_rename: path('path_rename'),
    // path_symlink's folder descriptor is its third argument (old_path, old_path_len, fd, ...).
    path_symlink: (old: number, oldLen: number, fd: number, ...rest: never[]) => (isStdio(fd) ? Errno.NOTDIR : (files.path_symlink as (...a: unknown[]) => number)(old, oldLen, fd, ...rest)),
    path_unlink_file: path('path_unlink_file'),

    poll_oneoff: (inPtr: number, outPtr: number, nsubs: number, neventsPtr: number) => {
      const n = nsubs >>> 0;
      if (n === 0) return Errno.INVAL;
      const subs = range(inPtr, n * 48, 'poll_oneoff');
      const events = range(outPtr, n * 32, 'poll_oneoff');
      const now = process.hrtime.bigint();
      let wakeAt: bigint | undefined;
      let ready = 0;
      // File descriptor subscriptions (stdio) are always ready: answer them without sleeping.
      const emit = (userdata: bigint, type: number, error: number) => {
        const at = events + ready * 32;
        mem.u8.fill(0, at, at + 32);
        mem.dv.setBigUint64(at, userdata, true);
        mem.dv.setUint16(at + 8, error, true);
        mem.dv.setUint8(at + 10, type);
        ready++;
      };
      const clocks: Array<{ userdata: bigint; deadline: bigint }> = [];
      for (let i = 0; i < n; i++) {
        const s = subs + i * 48;
        const userdata = mem.dv.getBigUint64(s, true);
        const tag = mem.dv.getUint8(s + 8);
        if (tag === EVENTTYPE_CLOCK) {
          const clockId = mem.dv.getUint32(s + 16, true);
          const timeout = mem.dv.getBigUint64(s + 24, true);
          const flags = mem.dv.getUint16(s + 40, true);
          const base = clockNow(clockId);
          if (base === undefined) {
            emit(userdata, EVENTTYPE_CLOCK, Errno.INVAL);
            continue;
          }
          const relative = flags & SUBCLOCKFLAG_ABSTIME ? timeout - base : timeout;
          const deadline = now + (relative > 0n ? relative : 0n);
          clocks.push({ userdata, deadline });
          if (wakeAt === undefined || deadline < wakeAt) wakeAt = deadline;
        } else if (tag > EVENTTYPE_FD_WRITE) {
          // Not a member of the subscription union: the call is malformed, as wasmtime answers it.
          return Errno.INVAL;
        } else {
          // stdio and mounted files are always ready.
          const fd = mem.dv.getUint32(s + 16, true);
          emit(userdata, tag, isStdio(fd) || current().files?.get(fd) ? Errno.SUCCESS : Errno.BADF);
        }
      }
      if (ready === 0 && wakeAt !== undefined) {
        // Blocks this worker only; the request deadline still terminates it.
        const ms = Number((wakeAt - now) / 1_000_000n);
        if (ms > 0) Atomics.wait(sleeper, 0, 0, ms);
        for (const c of clocks) if (c.deadline <= wakeAt) emit(c.userdata, EVENTTYPE_CLOCK, Errno.SUCCESS);
      }
      setU32(neventsPtr, ready, 'poll_oneoff');
      return Errno.SUCCESS;
    },

    proc_exit: (code: number) => {
      throw new ProcExit(code >>> 0);
    },
    proc_raise: () => Errno.NOSYS,
    sched_yield: () => Errno.SUCCESS,
    random_get: (buf: number, len: number) => {
      const at = range(buf, len, 'random_get');
      randomFillSync(mem.u8, at, len >>> 0);
      return Errno.SUCCESS;
    },

    // stdio descriptors are open but are not sockets (wasi-testsuite c/sock_shutdown-not_sock).
    sock_accept: notSocket,
    sock_recv: notSocket,
    sock_send: notSocket,
    sock_shutdown: notSocket,
  };
  return imports;
}
