/**
 * Reading and writing a guest's linear memory from host calls, every access bounds-checked. A bad
 * pointer is the guest's bug: it ends the request with GUEST_MEMORY_FAULT, naming the function.
 */
import { VergeError } from '../errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Every GuestMemory of this thread (weakly), so that their views can be dropped between requests. */
const instances = new Set<WeakRef<GuestMemory>>();

/**
 * Drops every cached view of a guest memory. Called when a request ends: a view would otherwise
 * keep the last request's memory alive (and resident) however large it grew.
 */
export function releaseGuestMemories(): void {
  for (const ref of instances) {
    const m = ref.deref();
    if (m) m.release();
    else instances.delete(ref);
  }
}

export class GuestMemory {
  private buffer: ArrayBuffer | undefined;
  /** Views over the memory, current as of the last `range` (memory.grow detaches the old buffer). */
  u8 = new Uint8Array(0);
  dv = new DataView(new ArrayBuffer(0));

  constructor(private readonly memory: () => WebAssembly.Memory | undefined) {
    instances.add(new WeakRef(this));
  }

  release(): void {
    this.buffer = undefined;
    this.u8 = new Uint8Array(0);
    this.dv = new DataView(new ArrayBuffer(0));
  }

  private refresh(what: string): void {
    const memory = this.memory();
    if (!memory) throw new VergeError('GUEST_MEMORY_FAULT', `${what}: the module has no linear memory to pass pointers into`);
    if (memory.buffer !== this.buffer) {
      this.buffer = memory.buffer;
      this.u8 = new Uint8Array(memory.buffer);
      this.dv = new DataView(memory.buffer);
    }
  }

  /**
   * Checks [ptr, ptr+len) is inside memory and returns ptr, unsigned. `len` is a guest's i32 (a
   * negative one is read as u32) or a size the host computed from a guest's count, which may pass
   * 2^32 and must not wrap around to a small number.
   */
  range(ptr: number, len: number, what: string): number {
    this.refresh(what);
    const p = ptr >>> 0;
    const n = len < 0 ? len >>> 0 : len;
    if (p + n > this.u8.length) {
      throw new VergeError('GUEST_MEMORY_FAULT', `${what}: the guest passed [${p}, ${p + n}) but its memory is ${this.u8.length} bytes`);
    }
    return p;
  }

  /** A view (not a copy) of guest bytes: copy it before the guest runs again. */
  view(ptr: number, len: number, what: string): Uint8Array {
    const at = this.range(ptr, len, what);
    return this.u8.subarray(at, at + (len >>> 0));
  }

  copy(ptr: number, len: number, what: string): Uint8Array {
    return this.view(ptr, len, what).slice();
  }

  /** UTF-8 text, or undefined when it is not valid UTF-8 (the caller answers INVALID_ARGUMENT). */
  string(ptr: number, len: number, what: string): string | undefined {
    const bytes = this.view(ptr, len, what);
    try {
      return utf8.decode(bytes);
    } catch {
      return undefined;
    }
  }

  /**
   * The "buffer too small returns the length needed" convention: writes `data` when it fits in
   * `cap` bytes and returns its full length either way.
   */
  writeOut(outPtr: number, outCap: number, data: Uint8Array, what: string): number {
    if (data.length <= outCap >>> 0) {
      const at = this.range(outPtr, data.length, what);
      this.u8.set(data, at);
    }
    return data.length;
  }

  setI64(ptr: number, value: bigint, what: string): void {
    const at = this.range(ptr, 8, what);
    this.dv.setBigInt64(at, value, true);
  }
}
