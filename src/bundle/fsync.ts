/** Flushing files and folders to disk, so what was written, renamed or created survives a crash. */
import { open } from 'node:fs/promises';
import path from 'node:path';

/** A file's bytes, or a folder's entries. */
export async function fsyncPath(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Each of `paths` below `root`, a few at a time: the file system can commit them together. */
export async function fsyncAll(root: string, paths: Iterable<string>): Promise<void> {
  const list = [...paths];
  for (let i = 0; i < list.length; i += 16) await Promise.all(list.slice(i, i + 16).map((p) => fsyncPath(path.join(root, p))));
}
