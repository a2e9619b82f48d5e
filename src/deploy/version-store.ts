/**
 * Uploaded versions and each app's deployment, on disk under the node's data dir:
 *
 *   apps/APP/versions/ID/          an unpacked bundle (verge.toml, modules, signatures) and version.json
 *   apps/APP/versions/.incoming-*  an upload being unpacked (removed at start: never served)
 *   apps/APP/deployment.json       the active deployment, the ones before it, every version ever live
 *   apps/APP/data/                 the app's key-value stores, shared by all its versions
 *
 * A version directory appears in one rename once it is complete and synced, and a deployment
 * file is replaced in one rename: after a crash (kill -9 mid-upload included) the node finds
 * either the old state or the new one, never half of either.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { VergeError } from '../errors.js';
import { unpackBundle, type BundleLimits, type Listing } from '../bundle/index.js';

export interface StoredVersion {
  id: string;
  app: string;
  created: string;
  /** Uncompressed bytes of every file. */
  size: number;
  files: Listing[];
  /** Key ids of the signers checked at upload (empty when the node trusts no key). */
  signers: string[];
}

export interface DeploymentRecord {
  seq: number;
  at: string;
  /** Token fingerprint, 'local', or 'auto-rollback'. */
  by: string;
  reason: 'deploy' | 'rollback' | 'auto-rollback';
  versions: Array<{ id: string; weight: number }>;
  /** The deploy request's sticky and auto-rollback settings, as given. */
  policy: Record<string, unknown>;
  note?: string;
}

export interface AppState {
  current: DeploymentRecord | undefined;
  /** Earlier deployments, newest first (at most HISTORY_LIMIT). */
  history: DeploymentRecord[];
  /** Every version that was ever in a deployment: retention keeps them. */
  everLive: string[];
}

export const HISTORY_LIMIT = 50;
export const DEFAULT_RETAIN_UPLOADS = 10;

/** An upload unpacked beside the versions; `commit` makes it a version, `discard` forgets it. */
export interface PendingVersion {
  id: string;
  app: string;
  dir: string;
  files: Listing[];
  /** The version already exists (same content): nothing to commit. */
  existing: StoredVersion | undefined;
  commit(signers: string[]): Promise<StoredVersion>;
  discard(): Promise<void>;
}

const VERSION_FILE = 'version.json';
const STATE_FILE = 'deployment.json';
const ID = /^[0-9a-f]{64}$/;

export class VersionStore {
  constructor(
    readonly root: string,
    private readonly limits: Partial<BundleLimits> = {},
  ) {}

  /** Removes what a crash left half-done. */
  async init(): Promise<void> {
    for (const app of await this.apps()) {
      const dir = this.versionsDir(app);
      for (const name of await readdirOrEmpty(dir)) {
        if (name.startsWith('.')) await fs.rm(path.join(dir, name), { recursive: true, force: true });
      }
      await fs.rm(path.join(this.appDir(app), `${STATE_FILE}.tmp`), { force: true });
    }
  }

  async apps(): Promise<string[]> {
    return (await readdirOrEmpty(this.appsDir())).filter((n) => !n.startsWith('.')).sort();
  }

  appDir(app: string): string {
    return path.join(this.appsDir(), app);
  }

  /** Where the app's key-value stores live, whichever version serves. */
  dataDir(app: string): string {
    return path.join(this.appDir(app), 'data');
  }

  versionDir(app: string, id: string): string {
    return path.join(this.versionsDir(app), id);
  }

  async versions(app: string): Promise<StoredVersion[]> {
    const out: StoredVersion[] = [];
    for (const name of await readdirOrEmpty(this.versionsDir(app))) {
      if (!ID.test(name)) continue;
      const v = await this.readVersion(app, name);
      if (v) out.push(v);
    }
    return out.sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  /** A version by id or unique prefix (at least 6 hex characters). */
  async find(app: string, idOrPrefix: string): Promise<StoredVersion> {
    const want = idOrPrefix.toLowerCase();
    if (!/^[0-9a-f]{6,64}$/.test(want)) throw new VergeError('VERSION_NOT_FOUND', `app ${app}: ${JSON.stringify(idOrPrefix)} is not a version id (6 to 64 hex characters)`);
    const hits = (await this.versions(app)).filter((v) => v.id.startsWith(want));
    if (hits.length === 0) throw new VergeError('VERSION_NOT_FOUND', `app ${app} has no version ${want}`);
    if (hits.length > 1) throw new VergeError('VERSION_NOT_FOUND', `app ${app}: ${want} matches ${hits.length} versions; give more of the id`);
    return hits[0]!;
  }

  /** Unpacks an upload beside the versions (caps checked while streaming); nothing is a version until `commit`. */
  async receive(app: string, input: Readable): Promise<PendingVersion> {
    const versions = this.versionsDir(app);
    await fs.mkdir(versions, { recursive: true });
    const dir = path.join(versions, `.incoming-${randomUUID()}`);
    const unpacked = await unpackBundle(input, dir, this.limits);
    const discard = () => fs.rm(dir, { recursive: true, force: true });
    const existing = await this.readVersion(app, unpacked.id);
    const files = unpacked.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 }));
    return {
      id: unpacked.id,
      app,
      dir,
      files,
      existing,
      discard,
      commit: async (signers) => {
        const version: StoredVersion = {
          id: unpacked.id,
          app,
          created: new Date().toISOString(),
          size: files.reduce((n, f) => n + f.size, 0),
          files,
          signers,
        };
        await writeSynced(path.join(dir, VERSION_FILE), JSON.stringify(version, null, 2) + '\n');
        await syncDir(dir);
        try {
          await fs.rename(dir, this.versionDir(app, unpacked.id));
        } catch (err) {
          // Another upload of the same content won the race: it is the same version.
          await discard();
          const won = await this.readVersion(app, unpacked.id);
          if (won) return won;
          throw err;
        }
        await syncDir(versions);
        return version;
      },
    };
  }

  /** Deletes a version (the caller checked it is not in use): gone in one rename, then removed. */
  async delete(app: string, id: string): Promise<void> {
    const dir = this.versionDir(app, id);
    const doomed = path.join(this.versionsDir(app), `.deleted-${randomUUID()}`);
    await fs.rename(dir, doomed);
    await syncDir(this.versionsDir(app));
    await fs.rm(doomed, { recursive: true, force: true });
  }

  async readState(app: string): Promise<AppState> {
    try {
      const state = JSON.parse(await fs.readFile(path.join(this.appDir(app), STATE_FILE), 'utf8')) as AppState;
      return { current: state.current, history: state.history ?? [], everLive: state.everLive ?? [] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: undefined, history: [], everLive: [] };
      throw new VergeError('INTERNAL', `${path.join(this.appDir(app), STATE_FILE)}: cannot read the deployment state: ${(err as Error).message}`);
    }
  }

  /** Makes `record` the active deployment; the one before goes to the history. */
  async activate(app: string, record: Omit<DeploymentRecord, 'seq' | 'at'>): Promise<{ state: AppState; record: DeploymentRecord }> {
    const before = await this.readState(app);
    const full: DeploymentRecord = { ...record, seq: (before.current?.seq ?? 0) + 1, at: new Date().toISOString() };
    const everLive = [...new Set([...before.everLive, ...full.versions.map((v) => v.id)])];
    const state: AppState = {
      current: full,
      history: before.current ? [before.current, ...before.history].slice(0, HISTORY_LIMIT) : before.history,
      everLive,
    };
    await this.writeState(app, state);
    return { state, record: full };
  }

  /**
   * Retention: keeps every version that was ever live, the `keepUploads` newest uploads, and
   * whatever `inUse` names; deletes the rest. Returns the deleted ids.
   */
  async prune(app: string, keepUploads: number, inUse: ReadonlySet<string>): Promise<string[]> {
    const state = await this.readState(app);
    const keep = new Set([...state.everLive, ...inUse]);
    const versions = await this.versions(app);
    const newest = new Set(versions.slice(-keepUploads).map((v) => v.id));
    const doomed = versions.filter((v) => !keep.has(v.id) && !newest.has(v.id)).map((v) => v.id);
    for (const id of doomed) await this.delete(app, id);
    return doomed;
  }

  /** Forgets a deleted version in the ever-live list (an operator deleted it on purpose). */
  async forget(app: string, id: string): Promise<void> {
    const state = await this.readState(app);
    if (!state.everLive.includes(id)) return;
    await this.writeState(app, { ...state, everLive: state.everLive.filter((v) => v !== id) });
  }

  /** Replaces the deployment file in one rename, synced: a crash leaves the old state or the new one. */
  private async writeState(app: string, state: AppState): Promise<void> {
    await fs.mkdir(this.appDir(app), { recursive: true });
    const file = path.join(this.appDir(app), STATE_FILE);
    await writeSynced(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
    await fs.rename(`${file}.tmp`, file);
    await syncDir(this.appDir(app));
  }

  private appsDir(): string {
    return path.join(this.root, 'apps');
  }

  private versionsDir(app: string): string {
    return path.join(this.appDir(app), 'versions');
  }

  private async readVersion(app: string, id: string): Promise<StoredVersion | undefined> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.versionDir(app, id), VERSION_FILE), 'utf8')) as StoredVersion;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function writeSynced(file: string, text: string): Promise<void> {
  const fh = await fs.open(file, 'w', 0o644);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, fsConstants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
