/**
 * Changes as JetStream messages. Each replica publishes its own register writes and counter
 * entries on subjects of their own — `<prefix>.r.<replica>.<key>` and `<prefix>.c.<replica>.<key>`
 * — and the stream keeps only the last message of each subject: every message carries a whole
 * state (a write and its stamp, a replica's whole entry), never a delta, so the last one per
 * subject is all a replica needs. The stream is thereby the store's compacted state: a replica that
 * resumes from its last sequence catches up with what changed since, and a new one reads it all.
 */
import { encodeKey } from '../nats/key-codec.js';
import { parseStamp } from './hlc.js';
import type { Change } from './merge.js';

interface RegisterBody {
  k: string;
  o: string;
  s: string;
  /** base64, or null for a tombstone */
  v: string | null;
}

interface CounterBody {
  k: string;
  r: string;
  e: string;
  p: string;
  n: string;
}

export function subjectOf(prefix: string, change: Change): string {
  // 'k' first: an empty key would otherwise leave an empty subject token.
  const key = `k${encodeKey(change.key)}`;
  return change.kind === 'register' ? `${prefix}.r.${change.origin}.${key}` : `${prefix}.c.${change.entry.replica}.${key}`;
}

/** Every subject of one key, whoever wrote it: for purging a key whose tombstone has expired. */
export function keySubjects(prefix: string, key: string): string {
  return `${prefix}.*.*.k${encodeKey(key)}`;
}

export function encodeChange(change: Change): Uint8Array {
  const body: RegisterBody | CounterBody =
    change.kind === 'register'
      ? { k: change.key, o: change.origin, s: change.register.stamp, v: change.register.value === null ? null : Buffer.from(change.register.value).toString('base64') }
      : { k: change.key, r: change.entry.replica, e: change.entry.epoch, p: String(change.entry.p), n: String(change.entry.n) };
  return new TextEncoder().encode(JSON.stringify(body));
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** The change a message holds, or undefined for one no replica wrote (it is skipped, not fatal). */
export function decodeChange(bytes: Uint8Array): Change | undefined {
  let body: Partial<RegisterBody & CounterBody>;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes)) as Partial<RegisterBody & CounterBody>;
  } catch {
    return undefined;
  }
  if (typeof body.k !== 'string') return undefined;
  if (typeof body.o === 'string' && typeof body.s === 'string' && parseStamp(body.s)?.replica === body.o && (body.v === null || typeof body.v === 'string')) {
    return { kind: 'register', key: body.k, origin: body.o, register: { stamp: body.s, value: body.v === null ? null : new Uint8Array(Buffer.from(body.v, 'base64')) } };
  }
  if (typeof body.r === 'string' && typeof body.e === 'string' && (body.e === '' || parseStamp(body.e)) && DECIMAL.test(body.p ?? '') && DECIMAL.test(body.n ?? '')) {
    return { kind: 'counter', key: body.k, entry: { replica: body.r, epoch: body.e, p: BigInt(body.p!), n: BigInt(body.n!) } };
  }
  return undefined;
}
