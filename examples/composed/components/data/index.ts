/**
 * data: a user's records in the key-value store "records", exported as acme:data/records. Only a
 * dependency: it opens the store with the grant its parent's entry lets it inherit.
 *
 * Keys: `count:SUBJECT` counts the subject's records (an atomic increment hands out ids, so
 * concurrent adds never share one); `record:SUBJECT:ID` holds each record as JSON.
 */
import { open, type Bucket } from 'wasi:keyvalue/store@0.2.0-draft2';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft2';

export const STORE = 'records';

export const LIMITS = Object.freeze({
  maxTextChars: 500,
  maxRecordsPerSubject: 1000,
  maxListed: 100,
});

interface Entry {
  id: number;
  text: string;
  createdAt: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Errors are strings (the interface's `result<_, string>`): a store refusal names the store. */
function store(): Bucket {
  try {
    return open(STORE);
  } catch (e) {
    const payload = (e as { payload?: { tag: string; val?: string } }).payload;
    throw `store ${STORE}: ${payload ? (payload.val === undefined ? payload.tag : `${payload.tag}: ${payload.val}`) : String(e)}`;
  }
}

function count(bucket: Bucket, subject: string): number {
  const raw = bucket.get(`count:${subject}`);
  return raw === undefined ? 0 : Number(decoder.decode(raw));
}

export const records = {
  fetchRecords(subject: string, limit: number): Entry[] {
    const bucket = store();
    const last = count(bucket, subject);
    const first = Math.max(1, last - Math.min(limit, LIMITS.maxListed) + 1);
    const out: Entry[] = [];
    for (let id = first; id <= last; id++) {
      // An id handed out by an add that has not written its record yet is skipped.
      const raw = bucket.get(`record:${subject}:${id}`);
      if (raw !== undefined) out.push(JSON.parse(decoder.decode(raw)) as Entry);
    }
    return out;
  },

  addRecord(subject: string, text: string): Entry {
    if (text.length === 0 || text.length > LIMITS.maxTextChars) throw `text must be 1 to ${LIMITS.maxTextChars} characters, got ${text.length}`;
    const bucket = store();
    if (count(bucket, subject) >= LIMITS.maxRecordsPerSubject) throw `at most ${LIMITS.maxRecordsPerSubject} records per subject`;
    const id = Number(increment(bucket, `count:${subject}`, 1n));
    const entry: Entry = { id, text, createdAt: Date.now() };
    bucket.set(`record:${subject}:${id}`, encoder.encode(JSON.stringify(entry)));
    return entry;
  },
};
