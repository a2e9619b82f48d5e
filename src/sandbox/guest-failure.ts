/**
 * What a failed guest said and where it was: the panic or abort message it wrote to stderr just
 * before it trapped or exited (Rust's panic hook, AssemblyScript's wasi-shim `abort`), and its
 * Wasm backtrace with function names from the module's name section. Both travel with the failure
 * to the request's log record; `verge up --dev` also puts them in the 500 body.
 */
import type { ErrorCode, GuestFailureDetail } from '../errors.js';
import { moduleFunctionNames } from '../wasm/name-section.js';

/** Bounds on what is kept: the log record and a dev body stay small whatever the guest printed. */
export const GUEST_FAILURE_LIMITS = { maxPanicLines: 16, maxPanicBytes: 4096, maxFrames: 48 } as const;

/** Rust before 1.73: `thread 'main' panicked at 'msg', src/x.rs:1:2`; since: `thread 'main' panicked at src/x.rs:1:2:` then the message. */
const PANIC_START = /^(?:thread '[^']*' )?panicked at /;
/** AssemblyScript's wasi-shim: `abort: MSG in FILE(LINE:COL)`, then proc_exit(255). */
const ABORT_LINE = /^abort: /;
/** The line Rust's default hook ends with; not part of the message. */
const PANIC_NOTE = /^note: run with `RUST_BACKTRACE=/;

/**
 * Watches one request's stderr lines for a panic or abort message and keeps the last one seen. A
 * worker has one, reset with every request (as its stderr LineSink is).
 */
export class LastWords {
  private lines: string[] = [];
  private bytes = 0;
  private open = false;

  reset(): void {
    this.lines = [];
    this.bytes = 0;
    this.open = false;
  }

  line(text: string): void {
    if (PANIC_START.test(text) || ABORT_LINE.test(text)) {
      this.lines = [];
      this.bytes = 0;
      this.open = !ABORT_LINE.test(text);
      this.keep(text);
      return;
    }
    if (!this.open) return;
    if (PANIC_NOTE.test(text)) this.open = false;
    else this.keep(text);
  }

  private keep(text: string): void {
    if (this.lines.length >= GUEST_FAILURE_LIMITS.maxPanicLines || this.bytes + text.length > GUEST_FAILURE_LIMITS.maxPanicBytes) {
      this.open = false;
      return;
    }
    this.lines.push(text);
    this.bytes += text.length + 1;
  }

  /** The message, or undefined when the guest wrote none. */
  get message(): string | undefined {
    return this.lines.length > 0 ? this.lines.join('\n') : undefined;
  }
}

/** `    at NAME (wasm://wasm/ID:wasm-function[N]:0xOFF)` or, unnamed, `    at wasm://wasm/ID:wasm-function[N]:0xOFF`. */
const WASM_FRAME = /^\s*at (?:(.*) \()?wasm:\/\/wasm\/[^\s:]*:wasm-function\[(\d+)\]:(0x[0-9a-f]+)\)?\s*$/;

/**
 * The Wasm frames of a V8 stack trace, innermost first, each named from V8's frame or, where V8
 * gave none, from `names` (the module's name section), Rust names demangled. JavaScript frames
 * (the host's own) are left out.
 */
export function wasmBacktrace(stack: string, names: ReadonlyMap<number, string> = new Map()): string[] {
  const frames: string[] = [];
  for (const line of stack.split('\n')) {
    const m = WASM_FRAME.exec(line);
    if (!m) continue;
    const index = Number(m[2]);
    const name = m[1] ?? names.get(index);
    const where = `wasm-function[${index}]:${m[3]}`;
    frames.push(name ? `${demangle(name)} (${where})` : where);
    if (frames.length >= GUEST_FAILURE_LIMITS.maxFrames) break;
  }
  return frames;
}

const LEGACY_ESCAPES: Record<string, string> = { SP: '@', BP: '*', RF: '&', LT: '<', GT: '>', LP: '(', RP: ')', C: ',' };

/**
 * A Rust symbol as a reader writes it: `_ZN3std9panicking11begin_panic17h0123456789abcdefE` (legacy
 * mangling) and `std::panicking::begin_panic::h0123456789abcdef` (what wasm-ld's name section
 * holds once demangled) both become `std::panicking::begin_panic`. Other names are returned as they are.
 */
export function demangle(name: string): string {
  let path = name;
  const mangled = /^_?_ZN(.*)E$/.exec(name);
  if (mangled) {
    const parts: string[] = [];
    let rest = mangled[1]!;
    while (rest.length > 0) {
      const len = /^\d+/.exec(rest);
      if (!len) return name;
      const n = Number(len[0]);
      const start = len[0].length;
      if (start + n > rest.length) return name;
      parts.push(rest.slice(start, start + n));
      rest = rest.slice(start + n);
    }
    path = parts.join('::');
  }
  path = path.replace(/::h[0-9a-f]{16}$/, '');
  if (!mangled && path === name) return name;
  return path
    .replace(/(^|::)_\$/g, '$1$')
    .replace(/\$([A-Z]{1,2})\$/g, (all, code: string) => LEGACY_ESCAPES[code] ?? all)
    .replace(/\$u([0-9a-f]{2})\$/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
    .replace(/\.\./g, '::');
}

/** The failures a guest causes by itself, whose last words and stack say why. */
const EXPLAINED = new Set<ErrorCode>(['GUEST_TRAP', 'GUEST_EXIT', 'GUEST_MEMORY_FAULT']);

/** Adds the guest's last words and backtrace to a failure of its own making (a trap, a failing exit). */
export function explainFailure(failure: { code: ErrorCode } & GuestFailureDetail, err: unknown, module: WebAssembly.Module | undefined, lastWords: LastWords): void {
  if (EXPLAINED.has(failure.code)) Object.assign(failure, guestFailureDetail(err, module, lastWords));
}

/**
 * The detail of a guest's trap or failing exit: the last panic or abort message on its stderr, and
 * the backtrace from the error's stack (a trap's, or the one taken when it called proc_exit).
 */
export function guestFailureDetail(err: unknown, module: WebAssembly.Module | undefined, lastWords: LastWords): GuestFailureDetail {
  const detail: GuestFailureDetail = {};
  const panic = lastWords.message;
  if (panic !== undefined) detail.panic = panic;
  const stack = err !== null && typeof err === 'object' && 'stack' in err && typeof err.stack === 'string' ? err.stack : undefined;
  if (stack) {
    const frames = wasmBacktrace(stack, module ? moduleFunctionNames(module) : undefined);
    if (frames.length > 0) detail.backtrace = frames;
  }
  return detail;
}
