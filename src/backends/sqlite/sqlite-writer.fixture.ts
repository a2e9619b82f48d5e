/**
 * Runs as a child process for the durability test in sqlite.test.ts: sets key/0, key/1, ... in
 * the file given as argv[2] and prints "ACK i" once each set has returned, until it is killed.
 * The output is written with writeSync so an ACK is never printed before its write returned nor
 * held back in a buffer after it.
 */
import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { openSqliteStore } from './sqlite-store.js';

export function valueFor(i: number): Uint8Array {
  return new TextEncoder().encode(`value ${i} `.repeat(1 + (i % 7)));
}

// The test imports valueFor from here too; only a process started on this file writes.
const file = process.argv[2];
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && file !== undefined) {
  const store = openSqliteStore(file);
  // A safety cap so an orphaned child cannot fill the disk; the test kills it long before.
  for (let i = 0; i < 1_000_000; i++) {
    store.set(`key/${i}`, valueFor(i));
    writeSync(1, `ACK ${i}\n`);
  }
  store.close();
}
