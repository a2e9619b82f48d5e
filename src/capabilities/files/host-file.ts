/**
 * Reading the host file behind a mounted file node, in a worker. The guest never names a host
 * path: it named a node of its tree, checked at load. The host file is opened without following a
 * symbolic link, and the descriptor is used only if it is still the file that was checked (same
 * device and inode, size, modification and change times): a file swapped or edited after the
 * version was loaded is refused, so a guest reads only what its version holds. Reads go straight
 * into the guest's buffer, a chunk at a time: nothing holds a whole file.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { FileNode } from './tree.js';

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;

/** The host file is not the one checked at load (or cannot be opened): the guest gets an I/O error. */
export class StaleFileError extends Error {}

export class HostFile {
  private fd: number | undefined;

  constructor(readonly node: FileNode) {}

  /** Reads up to `length` bytes at `position` into `into` (the guest's memory); 0 at the end. */
  read(into: Uint8Array, offset: number, length: number, position: number): number {
    if (length === 0 || position >= this.node.size) return 0;
    return readSync(this.open(), into, offset, Math.min(length, this.node.size - position), position);
  }

  /** True when a host descriptor is open (the caller closes it when the request ends). */
  get isOpen(): boolean {
    return this.fd !== undefined;
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  /** Opens the host file (once) and checks it is still the one checked at load; throws StaleFileError if not. */
  open(): number {
    if (this.fd !== undefined) return this.fd;
    const { host, identity: id } = this.node;
    let fd: number;
    try {
      fd = openSync(host, OPEN_FLAGS);
    } catch (err) {
      throw new StaleFileError(`${host} cannot be opened any more (${(err as NodeJS.ErrnoException).code ?? String(err)}); reload the app to serve its files again`);
    }
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile() || st.dev !== id.dev || st.ino !== id.ino || st.size !== id.size || st.mtimeNs !== id.mtimeNs || st.ctimeNs !== id.ctimeNs) {
      closeSync(fd);
      throw new StaleFileError(`${host} changed after the app version was loaded; it is not served until the app is reloaded`);
    }
    this.fd = fd;
    return fd;
  }
}
