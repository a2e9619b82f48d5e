/**
 * Reads of JetStream buckets that make no consumer: a listing is one STREAM.INFO with a
 * subjects filter, an object's bytes are STREAM.MSG.GET requests, one per chunk, each answered by
 * the stream's leader.
 *
 * Why not nats.js's own `keys()`, `list()` and object `get()`: each creates an ephemeral consumer
 * with one replica, and NATS 2.9 (Debian's) places it on any of the stream's peers, a stopped one
 * too. With one server of three stopped, about a third of those creations got no answer (the
 * consumer stays assigned to the stopped server: its info says "consumer is offline"), so a node
 * converged only when a coin came up right, and one of three nodes went 15 s without a deploy
 * (test/e2e/cluster-deploys.test.ts); a nats store's list-keys failed as often. The stream's
 * leader moves to a live server at once.
 */
import { createHash } from 'node:crypto';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { ObjectInfo } from '@nats-io/obj';
import { within } from './bounded.js';

/** The subjects under `filter` that hold a message (deleted KV keys included: their marker is a message). */
async function subjectsOf(jsm: JetStreamManager, stream: string, filter: string): Promise<string[]> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return Object.keys(info.state.subjects ?? {});
}

/** A key-value bucket's keys, deleted ones included: reading each says which hold a value. */
export async function kvKeys(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$KV.${bucket}.`;
  return (await subjectsOf(jsm, `KV_${bucket}`, `${prefix}>`)).map((s) => s.slice(prefix.length)).sort();
}

/**
 * Object names as nats.js stores them: the subject's last token is the name, base64url with
 * padding, of its characters as Latin-1 bytes (nats.js uses btoa, which takes no others).
 */
const encodeName = (name: string) => Buffer.from(name, 'latin1').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
const decodeName = (token: string) => Buffer.from(token.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('latin1');

/** An object store's names, deleted ones included (its info says which are). */
export async function objectNames(jsm: JetStreamManager, bucket: string): Promise<string[]> {
  const prefix = `$O.${bucket}.M.`;
  return (await subjectsOf(jsm, `OBJ_${bucket}`, `${prefix}>`)).map((s) => decodeName(s.slice(prefix.length))).sort();
}

/** The object's description as stored (null when there is none); a deleted object comes back with `deleted`. */
export async function objectInfo(jsm: JetStreamManager, bucket: string, name: string): Promise<ObjectInfo | null> {
  const m = await jsm.streams.getMessage(`OBJ_${bucket}`, { last_by_subj: `$O.${bucket}.M.${encodeName(name)}` });
  if (!m) return null;
  return { ...(m.json() as ObjectInfo), revision: m.seq };
}

/**
 * The object's bytes, chunk by chunk, each read within `callMs`. Throws (a plain Error: worth a
 * retry, never a refusal of the content) when a chunk is missing, or when the bytes do not add up
 * to the size or the SHA-256 its info states; the last chunk is only given once all of them agree.
 */
export async function* objectChunks(jsm: JetStreamManager, info: ObjectInfo, callMs: number): AsyncGenerator<Uint8Array> {
  const stream = `OBJ_${info.bucket}`;
  const subject = `$O.${info.bucket}.C.${info.nuid}`;
  const what = `object ${info.name} in ${info.bucket}`;
  const sha = createHash('sha256');
  let size = 0;
  let seq = 0;
  for (let i = 0; i < info.chunks; i++) {
    // The first message on the chunks' subject from `seq` on. The server takes next_by_subj with
    // STREAM.MSG.GET since 2.9 (checked with Debian's 2.9.10); nats.js types it for direct gets only.
    const next = { seq: seq + 1, next_by_subj: subject };
    const m = await within(jsm.streams.getMessage(stream, next), callMs, `reading chunk ${i + 1} of ${info.chunks} of ${what}`);
    if (!m) throw new Error(`${what} has ${i} of its ${info.chunks} chunks in the store (it was replaced or deleted while being read)`);
    seq = m.seq;
    size += m.data.length;
    sha.update(m.data);
    if (i === info.chunks - 1) {
      const digest = `SHA-256=${sha.digest('base64url')}`;
      // nats.js writes the digest padded; compare without the padding.
      if (size !== info.size || digest.replace(/=+$/, '') !== info.digest.replace(/=+$/, '')) {
        throw new Error(`${what} read back as ${size} bytes with ${digest}, not the ${info.size} bytes with ${info.digest} its info states`);
      }
    }
    yield m.data;
  }
}
