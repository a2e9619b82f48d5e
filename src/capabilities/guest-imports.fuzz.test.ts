/**
 * Every verge:v1 host call and the WASI preview1 calls a WAGI guest makes, with hostile pointers,
 * lengths, capacities and handles (negative, past the end, near 2^32) against a one-page memory
 * holding random bytes: each answers a status code or errno, or ends the request with
 * GUEST_MEMORY_FAULT naming the function; nothing else escapes, and nothing is allocated or
 * written past the guest's memory (`npm run fuzz` runs it longer).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { isVergeError } from '../errors.js';
import { fuzzParameters } from '../../test/support/fuzz.js';
import { Status } from './abi.js';
import { VERGE_ABI_NAMES } from './index.js';
import { createVergeImports } from './guest-imports.js';
import { GuestScope } from '../sandbox/scope.js';
import { HostBridge, createBridgeEnds, type BridgeEnds } from '../dispatch/host-bridge.js';
import type { ComponentGrants } from '../dispatch/protocol.js';
import { Errno, ProcExit, WASI_P1_FUNCTIONS, cStringList, createWasiImports, type WasiRequest } from '../sandbox/wagi/wasi-p1.js';

const PAGE = 65536;
const STATUSES = new Set<number>(Object.values(Status));
const ERRNOS = new Set<number>(Object.values(Errno));
/** At offset 0 the guest keeps a store name it is granted, so kv_* calls reach the store too. */
const STORE_NAME = new TextEncoder().encode('default');
// poll_oneoff sleeps for as long as the guest's clock subscription asks (the request deadline
// bounds it in a worker), so it is exercised by its own tests rather than by random timeouts.
const WASI_FUZZED = WASI_P1_FUNCTIONS.filter((n) => n !== 'poll_oneoff');

type Call = { module: 'verge' | 'wasi'; name: string; args: Array<number | bigint>; fill: { at: number; bytes: Uint8Array } };

// Mostly small values, so calls get past their first check and reach the stores and the writes.
const i32 = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 32 }) },
  { weight: 2, arbitrary: fc.integer({ min: 0, max: PAGE + 16 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 7, 8, 4096, PAGE - 8, PAGE - 4, PAGE - 1, PAGE, -1, -2, -8, 0x7fffffff, -0x80000000, 0x3fffffff) },
  { weight: 1, arbitrary: fc.integer({ min: -0x80000000, max: 0x7fffffff }) },
);
const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const call: fc.Arbitrary<Call> = fc.record({
  module: fc.constantFrom('verge' as const, 'wasi' as const),
  verge: fc.constantFrom(...VERGE_ABI_NAMES),
  wasi: fc.constantFrom(...WASI_FUZZED),
  ints: fc.array(i32, { minLength: 9, maxLength: 9 }),
  wide: i64,
  openStore: fc.boolean(),
  fill: fc.record({ at: fc.nat(PAGE - 1), bytes: fc.uint8Array({ maxLength: 96 }) }),
}).map((r) => {
  const name = r.module === 'verge' ? r.verge : r.wasi;
  const args: Array<number | bigint> = [...r.ints];
  // The i64 parameters: kv_increment's delta; clock_time_get's precision; fd_seek's offset.
  if (name === 'kv_increment') args[3] = r.wide;
  if (name === 'clock_time_get') args[1] = r.wide;
  if (name === 'fd_seek') args[1] = r.wide;
  // Half the kv_* calls use the store the sequence opened first, so they reach SQLite.
  if (r.openStore && name.startsWith('kv_') && name !== 'kv_open') args[0] = 0;
  return { module: r.module, name, args, fill: r.fill };
});

describe('host calls under fuzzing', () => {
  let dir: string;
  let ends: BridgeEnds;
  let scope: GuestScope;
  let verge: Record<string, (...args: never[]) => number>;
  let wasi: ReturnType<typeof createWasiImports>;
  let memory: WebAssembly.Memory;
  let request: WasiRequest;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'verge-hostcall-fuzz-'));
    ends = createBridgeEnds();
    memory = new WebAssembly.Memory({ initial: 1, maximum: 1 });
    // No grant here needs the main thread (SQLite runs in this thread; outbound is not granted),
    // so the bridge is never waited on.
    scope = new GuestScope(() => memory, new HostBridge(ends.workerPort, ends.signal), () => {});
    verge = createVergeImports(scope);
    request = {
      memory,
      args: cStringList(['/fuzz', 'a=b']),
      env: cStringList(['REQUEST_METHOD=GET']),
      stdin: new Uint8Array(100).fill(7),
      stdinOffset: 0,
      stdout: { write() {} },
      stderr: { write() {} },
      startedNs: process.hrtime.bigint(),
    };
    wasi = createWasiImports(() => request);
  });
  after(() => {
    ends.mainPort.close();
    ends.workerPort.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const grants = (): ComponentGrants => ({
    kvStores: [{ name: 'default', backend: 'sqlite', address: path.join(dir, 'kv.sqlite') }],
    variables: [{ name: 'region', value: 'eu', secret: false }, { name: 'unset', value: undefined, secret: false }],
    outbound: false,
  });

  function answersOrFaults(calls: Call[]): void {
    const bytes = new Uint8Array(memory.buffer);
    bytes.fill(0);
    bytes.set(STORE_NAME, 0);
    request.stdinOffset = 0;
    scope.begin({ id: 'fuzz', version: 'v1', component: 'fuzz', grants: grants() });
    try {
      assert.equal(verge.kv_open!(0 as never, STORE_NAME.length as never), 0);
      for (const c of calls) {
        bytes.set(c.fill.bytes.subarray(0, PAGE - c.fill.at), c.fill.at);
        const fn = (c.module === 'verge' ? verge[c.name] : wasi[c.name]) as unknown as (...a: Array<number | bigint>) => unknown;
        let result: unknown;
        try {
          result = fn(...c.args);
        } catch (err) {
          if (err instanceof ProcExit && c.name === 'proc_exit') continue;
          assert.ok(isVergeError(err), `${c.name}(${c.args.join(', ')}) threw ${err instanceof Error ? err.stack : String(err)}`);
          assert.equal(err.code, 'GUEST_MEMORY_FAULT', err.message);
          assert.ok(err.message.startsWith(`${c.name}: `), err.message);
          return; // a fault ends the request
        }
        assert.ok(typeof result === 'number' && Number.isInteger(result), `${c.name} returned ${String(result)}`);
        if (c.module === 'wasi') assert.ok(ERRNOS.has(result), `${c.name} answered errno ${result}, not one Verge defines`);
        else assert.ok(result >= 0 || STATUSES.has(result), `${c.name} answered ${result}, not a status code`);
        assert.equal(memory.buffer.byteLength, PAGE, 'the guest memory kept its size');
      }
    } finally {
      scope.end();
    }
  }

  test('sequences of host calls with hostile arguments answer a status, an errno or a memory fault naming the call', () => {
    fc.assert(fc.property(fc.array(call, { minLength: 1, maxLength: 6 }), answersOrFaults), fuzzParameters());
  });

  test('a length past the memory is refused before anything of that size is allocated', () => {
    const before = process.memoryUsage().arrayBuffers;
    // 2 GiB - 1 of value, key and message: a host that allocated first would need gigabytes here.
    for (let i = 0; i < 50; i++) {
      answersOrFaults([
        { module: 'verge', name: 'kv_open', args: [0, STORE_NAME.length], fill: { at: 0, bytes: new Uint8Array(0) } },
        { module: 'verge', name: 'kv_set', args: [0, 0, 7, 0, 0x7fffffff], fill: { at: 0, bytes: new Uint8Array(0) } },
        { module: 'verge', name: 'log', args: [2, 16, 0x7fffffff], fill: { at: 0, bytes: new Uint8Array(0) } },
        { module: 'wasi', name: 'random_get', args: [0, -1], fill: { at: 0, bytes: new Uint8Array(0) } },
      ]);
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024);
  });
});
