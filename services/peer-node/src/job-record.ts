// What the node remembers about each torrent across restarts, one directory per torrent under
// `<data>/torrents/<infohash>/`: `job.json` (this record), `torrent` (the .torrent bytes, once
// known) and `resume` (verified pieces, see resume.ts).
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from './atomic-file.ts';

const MAX_RECORD_BYTES = 64 * 1024;
const MAX_TORRENT_FILE_BYTES = 32 * 1024 * 1024;

export const JobOrigin = z.enum(['fetch', 'distribute', 'publish']);
export type JobOrigin = z.infer<typeof JobOrigin>;

export const JobRecord = z.object({
  version: z.literal(1),
  infoHash: z.string().regex(/^[0-9a-f]{40}$/),
  origin: JobOrigin,
  /** The directory the torrent's name lands in (for publish: the file's directory). */
  destination: z.string().min(1).max(4096),
  /** Publish: the file that was published and is seeded in place. */
  seedFile: z.string().min(1).max(4096).optional(),
  /** A magnet link the fetch named, for its `x.pe` peers when metadata is fetched again. */
  magnet: z.string().max(8192).optional(),
  /** What the node is doing with it: fetching, holding a verified copy, or given up. */
  phase: z.enum(['fetching', 'complete', 'failed']),
  /** Complete: whether it still seeds (false once the seeding policy said stop). */
  seeding: z.boolean(),
  seedingReason: z.string().max(1000).optional(),
  error: z.string().max(2000).optional(),
  name: z.string().max(4096).optional(),
  addedAt: z.number().int().min(0),
  completedAt: z.number().int().min(0).optional(),
  /** Bytes sent and received over earlier runs of the node. */
  uploaded: z.number().int().min(0),
  downloaded: z.number().int().min(0),
  /** The distribute command that started it, if any. */
  commandId: z.string().max(64).optional(),
});
export type JobRecord = z.infer<typeof JobRecord>;

export class JobStore {
  readonly root: string;

  constructor(dataDir: string) {
    this.root = join(dataDir, 'torrents');
  }

  directory(infoHash: string): string {
    return join(this.root, infoHash);
  }

  resumePath(infoHash: string): string {
    return join(this.directory(infoHash), 'resume');
  }

  async save(record: JobRecord): Promise<void> {
    await mkdir(this.directory(record.infoHash), { recursive: true });
    await writeFileAtomic(
      join(this.directory(record.infoHash), 'job.json'),
      JSON.stringify(record),
    );
  }

  async saveTorrent(infoHash: string, torrent: Uint8Array): Promise<void> {
    await mkdir(this.directory(infoHash), { recursive: true });
    await writeFileAtomic(join(this.directory(infoHash), 'torrent'), torrent);
  }

  /** The saved .torrent, or `undefined` when none was saved (still fetching metadata). */
  async loadTorrent(infoHash: string): Promise<Uint8Array | undefined> {
    const path = join(this.directory(infoHash), 'torrent');
    try {
      if ((await stat(path)).size > MAX_TORRENT_FILE_BYTES) return undefined;
      return new Uint8Array(await readFile(path));
    } catch {
      return undefined;
    }
  }

  async remove(infoHash: string): Promise<void> {
    await rm(this.directory(infoHash), { recursive: true, force: true });
  }

  /**
   * Every readable record. Unreadable ones are reported through `onBad` and skipped: a
   * damaged record loses one torrent's bookkeeping, never the node's start.
   */
  async loadAll(onBad: (directory: string, reason: string) => void): Promise<JobRecord[]> {
    await mkdir(this.root, { recursive: true });
    const records: JobRecord[] = [];
    for (const entry of await readdir(this.root, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^[0-9a-f]{40}$/.test(entry.name)) continue;
      const path = join(this.root, entry.name, 'job.json');
      try {
        if ((await stat(path)).size > MAX_RECORD_BYTES) throw new Error('too large');
        const parsed = JobRecord.safeParse(JSON.parse(await readFile(path, 'utf8')));
        if (!parsed.success) throw new Error('malformed');
        if (parsed.data.infoHash !== entry.name)
          throw new Error('infohash differs from its directory');
        records.push(parsed.data);
      } catch (error) {
        onBad(join(this.root, entry.name), error instanceof Error ? error.message : String(error));
      }
    }
    return records;
  }
}
