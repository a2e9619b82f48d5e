/**
 * The read-only file system of WASI preview1, over a component's mounted tree: preopened folders,
 * path_open with read-only flags, reads (fd_read, fd_pread, fd_seek, fd_tell), fd_readdir and
 * stats. Paths are resolved in the tree (capabilities/files/tree.ts), never by the host, so `..`
 * above a descriptor's folder and absolute paths answer ENOTCAPABLE, and nothing the tree does
 * not hold can be named. Descriptors are read-only: fd_write, fd_pwrite, fd_allocate and
 * fd_filestat_set_size answer EBADF, as POSIX does on a descriptor opened for reading; everything that would change the mount (opening for
 * writing, creating, truncating, removing, renaming, linking, setting sizes or times) answers
 * EROFS. Errno choices follow wasmtime and the official WASI test suite.
 *
 * The descriptor table is per request (`FdTable`); the host files it opened are closed when the
 * request ends.
 */
import type { GuestMemory } from '../../../sandbox/guest-memory.js';
import { Errno } from '../../../sandbox/wagi/errno.js';
import { HostFile, StaleFileError } from '../host-file.js';
import { GUEST_DEV, lookup, type DirNode, type FileNode, type FsNode } from '../tree.js';


const FILETYPE_DIRECTORY = 3;
const FILETYPE_REGULAR_FILE = 4;
/** Every preview1 right: a folder passes them all on, as wasmtime does; what the mount refuses is refused by the call. */
const ALL_RIGHTS = (1n << 30n) - 1n;
/**
 * A folder's own rights, as wasmtime reports them and libraries expect (wasi-testsuite's
 * path_open_preopen): the path_* rights, fd_readdir and the stat rights (bits 9 to 26 but
 * fd_filestat_set_size). No fd_read or fd_write: those are for the files opened under it.
 */
const DIR_RIGHTS = ((1n << 27n) - (1n << 9n)) & ~(1n << 22n);
const FD_WRITE = 1n << 6n;
/** Rights that only make sense for writing: asking for them in path_open is asking to write. */
const WRITE_RIGHTS = (1n << 6n) | (1n << 8n) | (1n << 22n); // fd_write, fd_allocate, fd_filestat_set_size
const OFLAGS_CREAT = 1;
const OFLAGS_DIRECTORY = 2;
const OFLAGS_EXCL = 4;
const OFLAGS_TRUNC = 8;
const FDFLAGS_APPEND = 1;
const WHENCE_SET = 0;
const WHENCE_CUR = 1;
const WHENCE_END = 2;
const DIRENT_SIZE = 24;

/** A preopened folder: the name the guest sees (`/`) and its tree. */
export interface Preopen {
  name: string;
  root: DirNode;
}

type Entry =
  | { kind: 'dir'; node: DirNode; preopen: Uint8Array | undefined; base: bigint; inheriting: bigint }
  | { kind: 'file'; node: FileNode; file: HostFile; pos: number; base: bigint; inheriting: bigint };

/** One request's open descriptors (3 and up); stdio stays with wasi-p1.ts. */
export class FdTable {
  private readonly fds = new Map<number, Entry>();

  constructor(
    preopens: readonly Preopen[],
    /** Tells the operator about a host file that changed under a served version. */
    readonly warn: (line: string) => void,
  ) {
    preopens.forEach((p, i) => this.fds.set(3 + i, { kind: 'dir', node: p.root, preopen: Buffer.from(p.name), base: DIR_RIGHTS, inheriting: ALL_RIGHTS }));
  }

  get(fd: number): Entry | undefined {
    return this.fds.get(fd);
  }

  add(entry: Entry): number {
    let fd = 3;
    while (this.fds.has(fd)) fd++;
    this.fds.set(fd, entry);
    return fd;
  }

  close(fd: number): boolean {
    const e = this.fds.get(fd);
    if (!e) return false;
    if (e.kind === 'file') e.file.close();
    return this.fds.delete(fd);
  }

  renumber(from: number, to: number): boolean {
    const e = this.fds.get(from);
    if (!e || !this.fds.has(to)) return false;
    if (from === to) return true;
    this.close(to);
    this.fds.set(to, e);
    this.fds.delete(from);
    return true;
  }

  /** The request ended: every host file it opened is closed. */
  closeAll(): void {
    for (const e of this.fds.values()) if (e.kind === 'file') e.file.close();
    this.fds.clear();
  }
}

type Fn = (...args: never[]) => number;

/**
 * The file system functions for descriptors 3 and up. `table()` is the current request's table
 * (undefined when its component mounts no files: then no descriptor is open and every call
 * answers EBADF).
 */
export function createPreview1FileImports(mem: GuestMemory, table: () => FdTable | undefined): Record<string, Fn> {
  const entry = (fd: number) => table()?.get(fd);
  const dirEntry = (fd: number): Entry | number => {
    const e = entry(fd);
    if (!e) return Errno.BADF;
    if (e.kind !== 'dir') return Errno.NOTDIR;
    return e;
  };
  const pathOf = (ptr: number, len: number, what: string): string | number => {
    const p = mem.string(ptr, len, what);
    return p === undefined ? Errno.ILSEQ : p;
  };
  /** The node at `path` under a folder descriptor, or an errno. */
  const resolve = (fd: number, ptr: number, len: number, what: string): { node: FsNode; dir: DirNode } | number => {
    const d = dirEntry(fd);
    if (typeof d === 'number') return d;
    const p = pathOf(ptr, len, what);
    if (typeof p === 'number') return p;
    if (p === '') return Errno.NOENT;
    const found = lookup(d.node as DirNode, p);
    switch (found) {
      case 'not-found':
        return Errno.NOENT;
      case 'not-directory':
        return Errno.NOTDIR;
      case 'outside':
        return Errno.NOTCAPABLE;
      case 'invalid':
        return Errno.INVAL;
      default:
        return { node: found, dir: d.node as DirNode };
    }
  };
  const writeFilestat = (ptr: number, node: FsNode, what: string) => {
    const at = mem.range(ptr, 64, what);
    mem.u8.fill(0, at, at + 64);
    mem.dv.setBigUint64(at, GUEST_DEV, true);
    mem.dv.setBigUint64(at + 8, BigInt(node.ino), true);
    mem.dv.setUint8(at + 16, node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE);
    mem.dv.setBigUint64(at + 24, 1n, true);
    mem.dv.setBigUint64(at + 32, BigInt(node.kind === 'dir' ? 4096 : node.size), true);
    for (const off of [40, 48, 56]) mem.dv.setBigUint64(at + off, node.mtimeNs, true);
  };
  /** Reads a file into the guest's iovecs from `position`; returns bytes read, or throws an errno. */
  const readInto = (e: Extract<Entry, { kind: 'file' }>, iovs: number, count: number, position: number, what: string): number => {
    const n = count >>> 0;
    const list = mem.range(iovs, n * 8, what);
    // Copied first: a read into the guest's memory may land on the iovec array itself.
    const vecs: Array<[number, number]> = [];
    for (let i = 0; i < n; i++) vecs.push([mem.dv.getUint32(list + i * 8, true), mem.dv.getUint32(list + i * 8 + 4, true)]);
    let total = 0;
    for (const [ptr, len] of vecs) {
      const at = mem.range(ptr, len, what);
      let got: number;
      try {
        got = e.file.read(mem.u8, at, len, position + total);
      } catch (err) {
        if (!(err instanceof StaleFileError)) throw err;
        table()?.warn(err.message);
        throw new ErrnoAnswer(Errno.IO);
      }
      total += got;
      if (got < len) break;
    }
    return total;
  };
  const answer = (fn: () => number): number => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ErrnoAnswer) return err.errno;
      throw err;
    }
  };
  const onFile = (fd: number, onDir: number, use: (e: Extract<Entry, { kind: 'file' }>) => number): number => {
    const e = entry(fd);
    if (!e) return Errno.BADF;
    if (e.kind === 'dir') return onDir;
    return answer(() => use(e));
  };
  const readOnly = (fd: number) => (entry(fd) ? Errno.ROFS : Errno.BADF);
  const readOnlyPath = (fd: number) => {
    const e = entry(fd);
    return !e ? Errno.BADF : e.kind !== 'dir' ? Errno.NOTDIR : Errno.ROFS;
  };

  return {
    fd_prestat_get: (fd: number, ptr: number) => {
      const e = entry(fd);
      if (!e || e.kind !== 'dir' || !e.preopen) return Errno.BADF;
      const at = mem.range(ptr, 8, 'fd_prestat_get');
      mem.u8.fill(0, at, at + 8);
      mem.dv.setUint32(at + 4, e.preopen.length, true);
      return Errno.SUCCESS;
    },
    fd_prestat_dir_name: (fd: number, ptr: number, len: number) => {
      const e = entry(fd);
      if (!e || e.kind !== 'dir' || !e.preopen) return Errno.BADF;
      if (len >>> 0 < e.preopen.length) return Errno.NAMETOOLONG;
      mem.u8.set(e.preopen, mem.range(ptr, e.preopen.length, 'fd_prestat_dir_name'));
      return Errno.SUCCESS;
    },
    fd_fdstat_get: (fd: number, ptr: number) => {
      const e = entry(fd);
      if (!e) return Errno.BADF;
      const at = mem.range(ptr, 24, 'fd_fdstat_get');
      mem.u8.fill(0, at, at + 24);
      mem.dv.setUint8(at, e.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE);
      mem.dv.setBigUint64(at + 8, e.base, true);
      mem.dv.setBigUint64(at + 16, e.inheriting, true);
      return Errno.SUCCESS;
    },
    fd_filestat_get: (fd: number, ptr: number) => {
      const e = entry(fd);
      if (!e) return Errno.BADF;
      writeFilestat(ptr, e.node, 'fd_filestat_get');
      return Errno.SUCCESS;
    },
    path_filestat_get: (fd: number, _flags: number, ptr: number, len: number, out: number) => {
      const r = resolve(fd, ptr, len, 'path_filestat_get');
      if (typeof r === 'number') return r;
      writeFilestat(out, r.node, 'path_filestat_get');
      return Errno.SUCCESS;
    },
    path_open: (fd: number, _dirflags: number, ptr: number, len: number, oflags: number, base: bigint, inheriting: bigint, fdflags: number, out: number) => {
      const r = resolve(fd, ptr, len, 'path_open');
      const creating = (oflags & OFLAGS_CREAT) !== 0;
      if (r === Errno.NOENT && creating) return Errno.ROFS;
      if (typeof r === 'number') return r;
      const { node } = r;
      if (creating && (oflags & OFLAGS_EXCL) !== 0) return Errno.EXIST;
      if ((oflags & OFLAGS_DIRECTORY) !== 0 && node.kind !== 'dir') return Errno.NOTDIR;
      const asked = BigInt.asUintN(64, base);
      // A folder opened with fd_write is EISDIR, as POSIX answers; a file opened for writing is EROFS.
      if (node.kind === 'dir' && (asked & FD_WRITE) !== 0n) return Errno.ISDIR;
      if ((asked & WRITE_RIGHTS) !== 0n || (oflags & OFLAGS_TRUNC) !== 0 || (fdflags & FDFLAGS_APPEND) !== 0) return Errno.ROFS;
      const rights = asked & ALL_RIGHTS;
      const inherit = BigInt.asUintN(64, inheriting) & ALL_RIGHTS;
      const t = table()!;
      const at = mem.range(out, 4, 'path_open');
      let newFd: number;
      if (node.kind === 'dir') newFd = t.add({ kind: 'dir', node, preopen: undefined, base: DIR_RIGHTS, inheriting: ALL_RIGHTS });
      else {
        // Opened now, so a file that changed since load fails the open (EIO), not a later read.
        const file = new HostFile(node);
        try {
          file.open();
        } catch (err) {
          if (!(err instanceof StaleFileError)) throw err;
          t.warn(err.message);
          return Errno.IO;
        }
        newFd = t.add({ kind: 'file', node, file, pos: 0, base: rights, inheriting: inherit });
      }
      mem.dv.setUint32(at, newFd, true);
      return Errno.SUCCESS;
    },
    fd_close: (fd: number) => (table()?.close(fd) ? Errno.SUCCESS : Errno.BADF),
    fd_renumber: (from: number, to: number) => (table()?.renumber(from, to) ? Errno.SUCCESS : Errno.BADF),
    fd_read: (fd: number, iovs: number, count: number, nread: number) =>
      onFile(fd, Errno.BADF, (e) => {
        const n = readInto(e, iovs, count, e.pos, 'fd_read');
        e.pos += n;
        mem.dv.setUint32(mem.range(nread, 4, 'fd_read'), n, true);
        return Errno.SUCCESS;
      }),
    fd_pread: (fd: number, iovs: number, count: number, offset: bigint, nread: number) =>
      onFile(fd, Errno.BADF, (e) => {
        const at = BigInt.asUintN(64, offset);
        const n = at >= BigInt(e.node.size) ? 0 : readInto(e, iovs, count, Number(at), 'fd_pread');
        mem.dv.setUint32(mem.range(nread, 4, 'fd_pread'), n, true);
        return Errno.SUCCESS;
      }),
    fd_seek: (fd: number, offset: bigint, whence: number, out: number) =>
      onFile(fd, Errno.BADF, (e) => {
        const from = whence === WHENCE_SET ? 0n : whence === WHENCE_CUR ? BigInt(e.pos) : whence === WHENCE_END ? BigInt(e.node.size) : undefined;
        if (from === undefined) return Errno.INVAL;
        const to = from + BigInt.asIntN(64, offset);
        if (to < 0n || to > BigInt(Number.MAX_SAFE_INTEGER)) return Errno.INVAL;
        e.pos = Number(to);
        mem.dv.setBigUint64(mem.range(out, 8, 'fd_seek'), to, true);
        return Errno.SUCCESS;
      }),
    fd_tell: (fd: number, out: number) =>
      onFile(fd, Errno.BADF, (e) => {
        mem.dv.setBigUint64(mem.range(out, 8, 'fd_tell'), BigInt(e.pos), true);
        return Errno.SUCCESS;
      }),
    fd_readdir: (fd: number, buf: number, len: number, cookie: bigint, used: number) => {
      const e = entry(fd);
      if (!e) return Errno.BADF;
      if (e.kind !== 'dir') return Errno.NOTDIR;
      const size = len >>> 0;
      const start = mem.range(buf, size, 'fd_readdir');
      const list: Array<[string, FsNode]> = [['.', e.node], ['..', e.node], ...e.node.entries];
      let written = 0;
      for (let i = Number(BigInt.asUintN(64, cookie)); i < list.length && written < size; i++) {
        const [name, node] = list[i]!;
        const nameBytes = Buffer.from(name);
        const head = Buffer.alloc(DIRENT_SIZE);
        head.writeBigUInt64LE(BigInt(i + 1), 0);
        head.writeBigUInt64LE(BigInt(node.ino), 8);
        head.writeUInt32LE(nameBytes.length, 16);
        head.writeUInt8(node.kind === 'dir' ? FILETYPE_DIRECTORY : FILETYPE_REGULAR_FILE, 20);
        // The last entry is cut at the buffer's end; a full buffer tells the guest to call again.
        for (const part of [head, nameBytes]) {
          const n = Math.min(part.length, size - written);
          mem.u8.set(part.subarray(0, n), start + written);
          written += n;
        }
      }
      mem.dv.setUint32(mem.range(used, 4, 'fd_readdir'), written, true);
      return Errno.SUCCESS;
    },
    fd_advise: (fd: number, _offset: bigint, _len: bigint, advice: number) => onFile(fd, Errno.BADF, () => (advice > 5 ? Errno.INVAL : Errno.SUCCESS)),
    // Like fd_write: the descriptor is not open for writing (POSIX's fallocate and ftruncate answer EBADF).
    fd_allocate: () => Errno.BADF,
    fd_datasync: (fd: number) => (entry(fd) ? Errno.SUCCESS : Errno.BADF),
    fd_sync: (fd: number) => (entry(fd) ? Errno.SUCCESS : Errno.BADF),
    fd_fdstat_set_flags: (fd: number, flags: number) => (!entry(fd) ? Errno.BADF : flags & FDFLAGS_APPEND ? Errno.ROFS : Errno.SUCCESS),
    fd_fdstat_set_rights: (fd: number, base: bigint, inheriting: bigint) => {
      const e = entry(fd);
      if (!e) return Errno.BADF;
      const b = BigInt.asUintN(64, base);
      const i = BigInt.asUintN(64, inheriting);
      // Rights may only shrink.
      if ((b & ~e.base) !== 0n || (i & ~e.inheriting) !== 0n) return Errno.NOTCAPABLE;
      e.base = b;
      e.inheriting = i;
      return Errno.SUCCESS;
    },
    fd_filestat_set_size: () => Errno.BADF,
    fd_filestat_set_times: readOnly,
    // Open or not, no descriptor here is open for writing.
    fd_write: () => Errno.BADF,
    fd_pwrite: () => Errno.BADF,
    path_create_directory: readOnlyPath,
    path_filestat_set_times: readOnlyPath,
    path_link: readOnlyPath,
    path_readlink: (fd: number, ptr: number, len: number) => {
      const r = resolve(fd, ptr, len, 'path_readlink');
      // A tree has no symbolic links: whatever the path names is not one.
      return typeof r === 'number' ? r : Errno.INVAL;
    },
    path_remove_directory: readOnlyPath,
    path_rename: readOnlyPath,
    path_symlink: (_old: number, _oldLen: number, fd: number) => readOnlyPath(fd),
    path_unlink_file: readOnlyPath,
  };
}

/** An errno for the guest, thrown from deep inside a call. */
class ErrnoAnswer {
  constructor(readonly errno: number) {}
}
