// The content-addressed artifact store on disk:
//
//   <root>/objects/<infohash>/{data,torrent,meta.json}   committed artifacts
//   <root>/tmp/<random>/                                  uploads and copies in progress
//   <root>/quarantine/<infohash>.<unix ms>/               artifacts that failed verification
//   <root>/tombstones/<infohash>                          explicit deletes, so copies do not return
//
// An object directory is built complete in tmp/ (every file fsynced, then the directory), then
// renamed into objects/ and objects/ fsynced: a reader never sees half an artifact, and a crash
// leaves at most a tmp/ entry, removed at the next start. The rename fails when the target
// exists, which makes duplicate and concurrent ingests of the same content store it once.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';

const HEX_INFOHASH = /^[0-9a-f]{40}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;
/** Largest meta.json read back; anything bigger is not ours. */
const MAX_META_BYTES = 64 * 1024;

/** What the store knows about one committed artifact (kept in meta.json). */
export const ArtifactRecord = z.object({
  version: z.literal(1),
  infoHash: z.string().regex(HEX_INFOHASH),
  name: z.string().min(1).max(255),
  sha256: z.string().regex(HEX_SHA256),
  size: z.number().int().positive(),
  pieceLength: z.number().int().positive(),
  createdUnixMs: z.number().int().nonnegative(),
  lastAccessUnixMs: z.number().int().nonnegative(),
});
export type ArtifactRecord = z.infer<typeof ArtifactRecord>;

export const Tombstone = z.object({ deletedUnixMs: z.number().int().nonnegative() });

/** A directory in tmp/ being filled; committed with `commit` or dropped with `discard`. */
export interface StagedObject {
  readonly dir: string;
  readonly dataPath: string;
}

export interface CommitResult {
  record: ArtifactRecord;
  /** False when the artifact was already stored: the staged copy was dropped. */
  created: boolean;
}

export function isInfoHash(value: string): boolean {
  return HEX_INFOHASH.test(value);
}

export class ArtifactStore {
  readonly root: string;
  readonly #objects: string;
  readonly #tmp: string;
  readonly #quarantine: string;
  readonly #tombstones: string;
  readonly #now: () => number;
  readonly #records = new Map<string, ArtifactRecord>();
  readonly #tombstoneTimes = new Map<string, number>();
  /** Access times changed since the last `flushAccessTimes`. */
  readonly #dirtyAccess = new Set<string>();
  /** Per-infohash queue, so commit, delete and quarantine of one artifact never interleave. */
  readonly #locks = new Map<string, Promise<unknown>>();
  #usedBytes = 0;

  private constructor(root: string, now: () => number) {
    this.root = root;
    this.#objects = join(root, 'objects');
    this.#tmp = join(root, 'tmp');
    this.#quarantine = join(root, 'quarantine');
    this.#tombstones = join(root, 'tombstones');
    this.#now = now;
  }

  /**
   * Opens (creating if needed) the store under `root`: removes leftovers in tmp/, loads every
   * object whose files are all present with the sizes meta.json records, and quarantines the
   * rest. Returns the store and the infohashes quarantined.
   */
  static async open(
    root: string,
    options: { now?: () => number } = {},
  ): Promise<{ store: ArtifactStore; quarantined: { infoHash: string; reason: string }[] }> {
    const store = new ArtifactStore(root, options.now ?? Date.now);
    for (const dir of [store.#objects, store.#tmp, store.#quarantine, store.#tombstones]) {
      await mkdir(dir, { recursive: true });
    }
    // Whatever is in tmp/ was never committed: an upload cut short by a crash.
    for (const entry of await readdir(store.#tmp)) {
      await rm(join(store.#tmp, entry), { recursive: true, force: true });
    }
    await store.#loadTombstones();
    const quarantined: { infoHash: string; reason: string }[] = [];
    for (const entry of await readdir(store.#objects)) {
      const reason = await store.#load(entry);
      if (reason !== undefined) {
        await store.#moveToQuarantine(entry, reason);
        quarantined.push({ infoHash: entry, reason });
      }
    }
    return { store, quarantined };
  }

  get usedBytes(): number {
    return this.#usedBytes;
  }

  get count(): number {
    return this.#records.size;
  }

  has(infoHash: string): boolean {
    return this.#records.has(infoHash);
  }

  get(infoHash: string): ArtifactRecord | undefined {
    return this.#records.get(infoHash);
  }

  list(): ArtifactRecord[] {
    return [...this.#records.values()];
  }

  dataPath(infoHash: string): string {
    return join(this.#objects, checkedInfoHash(infoHash), 'data');
  }

  /** The stored .torrent bytes. */
  async readTorrent(infoHash: string): Promise<Uint8Array> {
    if (!this.#records.has(infoHash)) {
      throw new PieceStoreError(PieceStoreErrorCode.NotFound, `no artifact ${infoHash}`);
    }
    return new Uint8Array(await readFile(join(this.#objects, infoHash, 'torrent')));
  }

  /** Records a use of the artifact for least-recently-used eviction (persisted lazily). */
  touch(infoHash: string): void {
    const record = this.#records.get(infoHash);
    if (record === undefined) return;
    record.lastAccessUnixMs = Math.max(record.lastAccessUnixMs, this.#now());
    this.#dirtyAccess.add(infoHash);
  }

  /** A fresh directory under tmp/ to build an object in. */
  async stage(): Promise<StagedObject> {
    const dir = join(this.#tmp, randomBytes(12).toString('hex'));
    await mkdir(dir);
    return { dir, dataPath: join(dir, 'data') };
  }

  async discard(staged: StagedObject): Promise<void> {
    await rm(staged.dir, { recursive: true, force: true });
  }

  /**
   * Makes a staged object visible. The data file must be complete and fsynced; this writes
   * the torrent and meta.json, fsyncs them and the directory, renames it into objects/ and
   * fsyncs objects/. If the artifact is already stored, drops the staged copy instead.
   */
  commit(
    staged: StagedObject,
    torrent: Uint8Array,
    fields: Omit<ArtifactRecord, 'version' | 'createdUnixMs' | 'lastAccessUnixMs'> & {
      /** When the artifact was first ingested (a copy keeps the original's time). */
      createdUnixMs?: number;
    },
  ): Promise<CommitResult> {
    const infoHash = checkedInfoHash(fields.infoHash);
    return this.#withLock(infoHash, async () => {
      const existing = this.#records.get(infoHash);
      if (existing !== undefined) {
        await this.discard(staged);
        this.touch(infoHash);
        return { record: existing, created: false };
      }
      const now = this.#now();
      const record: ArtifactRecord = {
        version: 1,
        infoHash,
        name: fields.name,
        sha256: fields.sha256,
        size: fields.size,
        pieceLength: fields.pieceLength,
        createdUnixMs: fields.createdUnixMs ?? now,
        lastAccessUnixMs: now,
      };
      await writeDurably(join(staged.dir, 'torrent'), torrent);
      await writeDurably(join(staged.dir, 'meta.json'), metaBytes(record));
      await fsyncDirectory(staged.dir);
      const target = join(this.#objects, infoHash);
      try {
        await rename(staged.dir, target);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
        // Present on disk but not loaded: only a quarantine race can do that; keep the disk's.
        await this.discard(staged);
        const reason = await this.#load(infoHash);
        if (reason !== undefined) throw error;
        return { record: this.#records.get(infoHash)!, created: false };
      }
      await fsyncDirectory(this.#objects);
      this.#records.set(infoHash, record);
      this.#usedBytes += record.size;
      this.#tombstoneTimes.delete(infoHash);
      await rm(join(this.#tombstones, infoHash), { force: true });
      return { record, created: true };
    });
  }

  /**
   * Removes an artifact: renamed out of objects/ first (one atomic step), then deleted.
   * With `tombstone`, remembers the delete so replicas do not copy it back.
   */
  remove(infoHash: string, options: { tombstone: boolean }): Promise<boolean> {
    checkedInfoHash(infoHash);
    return this.#withLock(infoHash, async () => {
      if (options.tombstone) await this.#addTombstone(infoHash);
      const record = this.#records.get(infoHash);
      if (record === undefined) return false;
      const doomed = join(this.#tmp, `deleted-${infoHash}-${randomBytes(4).toString('hex')}`);
      await rename(join(this.#objects, infoHash), doomed);
      await fsyncDirectory(this.#objects);
      this.#forget(infoHash, record);
      await rm(doomed, { recursive: true, force: true });
      return true;
    });
  }

  /** Moves an artifact to quarantine/ with the reason written beside it; it is no longer served. */
  quarantine(infoHash: string, reason: string): Promise<boolean> {
    checkedInfoHash(infoHash);
    return this.#withLock(infoHash, async () => {
      const record = this.#records.get(infoHash);
      if (record === undefined) return false;
      await this.#moveToQuarantine(infoHash, reason);
      this.#forget(infoHash, record);
      return true;
    });
  }

  /** When the artifact was explicitly deleted, if it was and no ingest has happened since. */
  tombstone(infoHash: string): number | undefined {
    return this.#tombstoneTimes.get(infoHash);
  }

  /** Drops tombstones older than `maxAgeMs`. */
  async expireTombstones(maxAgeMs: number): Promise<void> {
    const cutoff = this.#now() - maxAgeMs;
    for (const [infoHash, deleted] of this.#tombstoneTimes) {
      if (deleted >= cutoff) continue;
      this.#tombstoneTimes.delete(infoHash);
      await rm(join(this.#tombstones, infoHash), { force: true });
    }
  }

  /** Writes the access times changed since the last call into each meta.json (atomically). */
  async flushAccessTimes(): Promise<void> {
    const dirty = [...this.#dirtyAccess];
    this.#dirtyAccess.clear();
    for (const infoHash of dirty) {
      await this.#withLock(infoHash, async () => {
        const record = this.#records.get(infoHash);
        if (record === undefined) return;
        const dir = join(this.#objects, infoHash);
        const temporary = join(dir, 'meta.json.tmp');
        await writeDurably(temporary, metaBytes(record));
        await rename(temporary, join(dir, 'meta.json'));
      });
    }
  }

  #forget(infoHash: string, record: ArtifactRecord): void {
    this.#records.delete(infoHash);
    this.#dirtyAccess.delete(infoHash);
    this.#usedBytes -= record.size;
  }

  /** Loads objects/<entry>; returns why it is unusable, or undefined when loaded. */
  async #load(entry: string): Promise<string | undefined> {
    if (!isInfoHash(entry)) return 'not an infohash-named object';
    const dir = join(this.#objects, entry);
    const parsed = ArtifactRecord.safeParse(await readJson(join(dir, 'meta.json')));
    if (!parsed.success) return 'meta.json missing or invalid';
    const record = parsed.data;
    if (record.infoHash !== entry) return 'meta.json names another infohash';
    try {
      const data = await stat(join(dir, 'data'));
      if (!data.isFile()) return 'data is not a file';
      if (data.size !== record.size) return `data is ${data.size} bytes, expected ${record.size}`;
      const torrent = await stat(join(dir, 'torrent'));
      if (!torrent.isFile() || torrent.size === 0) return 'torrent missing';
    } catch (error) {
      return `files missing: ${(error as Error).message}`;
    }
    this.#records.set(entry, record);
    this.#usedBytes += record.size;
    return undefined;
  }

  async #moveToQuarantine(entry: string, reason: string): Promise<void> {
    const target = join(this.#quarantine, `${entry}.${this.#now()}`);
    await rename(join(this.#objects, entry), target);
    await fsyncDirectory(this.#objects);
    await writeFile(join(target, 'QUARANTINED'), `${reason}\n`);
  }

  async #addTombstone(infoHash: string): Promise<void> {
    const deletedUnixMs = this.#now();
    this.#tombstoneTimes.set(infoHash, deletedUnixMs);
    await writeDurably(
      join(this.#tombstones, infoHash),
      new TextEncoder().encode(JSON.stringify({ deletedUnixMs })),
    );
  }

  async #loadTombstones(): Promise<void> {
    for (const entry of await readdir(this.#tombstones)) {
      const path = join(this.#tombstones, entry);
      const parsed = isInfoHash(entry) ? Tombstone.safeParse(await readJson(path)) : undefined;
      if (parsed?.success) this.#tombstoneTimes.set(entry, parsed.data.deletedUnixMs);
      else await rm(path, { force: true });
    }
  }

  async #withLock<T>(infoHash: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(infoHash) ?? Promise.resolve();
    const run = previous.then(task, task);
    const settled = run.catch(() => {});
    this.#locks.set(infoHash, settled);
    try {
      return await run;
    } finally {
      if (this.#locks.get(infoHash) === settled) this.#locks.delete(infoHash);
    }
  }
}

function checkedInfoHash(infoHash: string): string {
  if (!isInfoHash(infoHash)) {
    throw new PieceStoreError(
      PieceStoreErrorCode.InvalidArgument,
      `infohash must be 40 lowercase hex characters, got ${JSON.stringify(infoHash.slice(0, 80))}`,
    );
  }
  return infoHash;
}

/** The JSON in a small file, or undefined when it is unreadable or not JSON. */
async function readJson(path: string): Promise<unknown> {
  try {
    const bytes = await readFile(path);
    return bytes.length > MAX_META_BYTES ? undefined : JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

function metaBytes(record: ArtifactRecord): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(record)}\n`);
}

/** Writes a new file and fsyncs it before returning. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** fsync of a directory, so a rename or create inside it survives a crash. */
export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
