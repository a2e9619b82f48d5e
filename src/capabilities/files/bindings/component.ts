/**
 * wasi:filesystem (preopens, types) for components, read-only over the component's mounted tree:
 * one preopened folder, `/`. Descriptors resolve paths in the tree (capabilities/files/tree.ts):
 * an absolute path or a `..` above the descriptor's folder is `not-permitted`, as wasmtime
 * answers; whatever would change the mount (a write, opening for writing, creating, removing,
 * renaming, linking, setting sizes or times) is `read-only`. Files are read from the host on
 * demand, a bounded chunk at a time, through host-file.ts (which refuses a file that changed since
 * load: `io`); a host file opened for a request is closed when the request ends.
 */
import type { GuestScope } from '../../../sandbox/scope.js';
import { InputStream, IoError, err, ok, type Result, type StreamError } from '../../../sandbox/component/wasi-io.js';
import { HostFile, StaleFileError } from '../host-file.js';
import { lookup, type DirNode, type FileNode, type FsNode } from '../tree.js';

type ErrorCode = 'no-entry' | 'not-directory' | 'not-permitted' | 'invalid' | 'is-directory' | 'read-only' | 'io' | 'exist' | 'bad-descriptor';
type DescriptorType = 'directory' | 'regular-file';
interface Datetime {
  seconds: bigint;
  nanoseconds: number;
}

/** The most one read or stream read hands over: a guest asking for 4 GiB gets it a chunk at a time. */
export const MAX_READ_CHUNK = 1024 * 1024;

const datetime = (ns: bigint): Datetime => ({ seconds: ns / 1_000_000_000n, nanoseconds: Number(ns % 1_000_000_000n) });

export function filesComponentImports(scope: GuestScope): Record<string, Record<string, unknown>> {
  /** Reads through `file`, whose host descriptor (opened on the first read) closes when the request ends. */
  const readChunk = (file: HostFile, length: number, position: number): Uint8Array => {
    if (!file.isOpen) {
      scope.frame.atEnd(() => file.close());
      file.open();
    }
    const out = new Uint8Array(Math.max(0, Math.min(length, MAX_READ_CHUNK, file.node.size - position)));
    let got = 0;
    while (got < out.length) {
      const n = file.read(out, got, out.length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got === out.length ? out : out.subarray(0, got);
  };
  const stale = (e: unknown): never | ErrorCode => {
    if (!(e instanceof StaleFileError)) throw e;
    scope.log('warn', `wasi:filesystem: ${e.message}`, 'host');
    return 'io';
  };
  const readOnly = () => err<ErrorCode>('read-only');

  /** A stream over a mounted file, read on demand. */
  class FileInputStream extends InputStream {
    constructor(
      private readonly file: HostFile,
      private position: number,
    ) {
      super(new Uint8Array(0));
    }
    override read(len: bigint): Result<Uint8Array, StreamError> {
      if (this.position >= this.file.node.size) return err({ tag: 'closed' });
      try {
        const chunk = readChunk(this.file, Number(len > BigInt(MAX_READ_CHUNK) ? MAX_READ_CHUNK : len), this.position);
        this.position += chunk.length;
        return ok(chunk);
      } catch (e) {
        stale(e);
        return err({ tag: 'last-operation-failed', val: new IoError('the mounted file changed after the app version was loaded') });
      }
    }
    override blockingRead(len: bigint): Result<Uint8Array, StreamError> {
      return this.read(len);
    }
    override skip(len: bigint): Result<bigint, StreamError> {
      if (this.position >= this.file.node.size) return err({ tag: 'closed' });
      const n = Math.min(Number(len), this.file.node.size - this.position);
      this.position += n;
      return ok(BigInt(n));
    }
    override blockingSkip(len: bigint): Result<bigint, StreamError> {
      return this.skip(len);
    }
  }

  class DirectoryEntryStream {
    private readonly entries: Array<[string, FsNode]>;
    constructor(dir: DirNode) {
      this.entries = [...dir.entries];
    }
    readDirectoryEntry(): Result<{ type: DescriptorType; name: string } | undefined, ErrorCode> {
      const next = this.entries.shift();
      return ok(next && { type: typeOf(next[1]), name: next[0] });
    }
  }

  const typeOf = (node: FsNode): DescriptorType => (node.kind === 'dir' ? 'directory' : 'regular-file');
  const statOf = (node: FsNode) => ({
    type: typeOf(node),
    linkCount: 1n,
    size: BigInt(node.kind === 'dir' ? 4096 : node.size),
    dataAccessTimestamp: datetime(node.mtimeNs),
    dataModificationTimestamp: datetime(node.mtimeNs),
    statusChangeTimestamp: datetime(node.mtimeNs),
  });

  class Descriptor {
    private file: HostFile | undefined;
    constructor(readonly node: FsNode) {}

    private at(path: string): Result<FsNode, ErrorCode> {
      if (this.node.kind !== 'dir') return err('not-directory');
      if (path === '') return err('no-entry');
      const found = lookup(this.node, path);
      switch (found) {
        case 'not-found':
          return err('no-entry');
        case 'not-directory':
          return err('not-directory');
        case 'outside':
          return err('not-permitted');
        case 'invalid':
          return err('invalid');
        default:
          return ok(found);
      }
    }
    hostFile(): HostFile {
      return (this.file ??= new HostFile(this.node as FileNode));
    }

    readViaStream(offset: bigint): Result<InputStream, ErrorCode> {
      if (this.node.kind === 'dir') return err('is-directory');
      return ok(new FileInputStream(this.hostFile(), Number(offset)));
    }
    writeViaStream() {
      return readOnly();
    }
    appendViaStream() {
      return readOnly();
    }
    advise(): Result<void, ErrorCode> {
      return ok(undefined);
    }
    syncData(): Result<void, ErrorCode> {
      return ok(undefined);
    }
    sync(): Result<void, ErrorCode> {
      return ok(undefined);
    }
    getFlags(): Result<{ read: boolean }, ErrorCode> {
      return ok({ read: true });
    }
    getType(): Result<DescriptorType, ErrorCode> {
      return ok(typeOf(this.node));
    }
    setSize() {
      return readOnly();
    }
    setTimes() {
      return readOnly();
    }
    read(length: bigint, offset: bigint): Result<[Uint8Array, boolean], ErrorCode> {
      if (this.node.kind === 'dir') return err('is-directory');
      const size = this.node.size;
      if (offset >= BigInt(size)) return ok([new Uint8Array(0), true]);
      try {
        const chunk = readChunk(this.hostFile(), Number(length > BigInt(MAX_READ_CHUNK) ? MAX_READ_CHUNK : length), Number(offset));
        return ok([chunk, Number(offset) + chunk.length >= size]);
      } catch (e) {
        return err(stale(e));
      }
    }
    write() {
      return readOnly();
    }
    readDirectory(): Result<DirectoryEntryStream, ErrorCode> {
      if (this.node.kind !== 'dir') return err('not-directory');
      return ok(new DirectoryEntryStream(this.node));
    }
    createDirectoryAt() {
      return readOnly();
    }
    stat(): Result<ReturnType<typeof statOf>, ErrorCode> {
      return ok(statOf(this.node));
    }
    statAt(_pathFlags: unknown, path: string): Result<ReturnType<typeof statOf>, ErrorCode> {
      const r = this.at(path);
      return r.tag === 'ok' ? ok(statOf(r.val)) : r;
    }
    setTimesAt() {
      return readOnly();
    }
    linkAt() {
      return readOnly();
    }
    openAt(
      _pathFlags: unknown,
      path: string,
      openFlags: { create?: boolean; directory?: boolean; exclusive?: boolean; truncate?: boolean },
      flags: { read?: boolean; write?: boolean; mutateDirectory?: boolean },
    ): Result<Descriptor, ErrorCode> {
      const r = this.at(path);
      if (r.tag === 'err') return r.val === 'no-entry' && openFlags.create ? readOnly() : r;
      const node = r.val;
      if (openFlags.create && openFlags.exclusive) return err('exist');
      if (openFlags.directory && node.kind !== 'dir') return err('not-directory');
      if (flags.write || openFlags.truncate) return err(node.kind === 'dir' ? 'is-directory' : 'read-only');
      if (flags.mutateDirectory) return readOnly();
      const opened = new Descriptor(node);
      if (node.kind === 'file') {
        // Opened now, so a file that changed since load fails the open, not a later read.
        try {
          readChunk(opened.hostFile(), 0, 0);
        } catch (e) {
          return err(stale(e));
        }
      }
      return ok(opened);
    }
    readlinkAt(_path: string): Result<string, ErrorCode> {
      const r = this.at(_path);
      // A tree has no symbolic links: whatever the path names is not one.
      return r.tag === 'ok' ? err('invalid') : r;
    }
    removeDirectoryAt() {
      return readOnly();
    }
    renameAt() {
      return readOnly();
    }
    symlinkAt() {
      return readOnly();
    }
    unlinkFileAt() {
      return readOnly();
    }
    isSameObject(other: Descriptor): boolean {
      return other.node === this.node;
    }
    metadataHash(): Result<{ lower: bigint; upper: bigint }, ErrorCode> {
      return ok({ lower: BigInt(this.node.ino), upper: this.node.mtimeNs });
    }
    metadataHashAt(_pathFlags: unknown, path: string): Result<{ lower: bigint; upper: bigint }, ErrorCode> {
      const r = this.at(path);
      return r.tag === 'ok' ? ok({ lower: BigInt(r.val.ino), upper: r.val.mtimeNs }) : r;
    }
  }

  return {
    'wasi:filesystem/preopens': {
      // The request's own mount; none without `files` (default-deny).
      getDirectories: () => {
        const root = scope.frame.grants.files;
        return root ? [[new Descriptor(root), '/']] : [];
      },
    },
    'wasi:filesystem/types': {
      Descriptor,
      DirectoryEntryStream,
      filesystemErrorCode: () => undefined,
    },
  };
}
