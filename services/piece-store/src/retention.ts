// The byte budget: ingests and copies reserve room before writing; when the budget is full,
// the least recently used copies that are safe to drop are evicted. A copy is safe to drop only
// when the replication layer says so (it is surplus: R live owners other than this replica
// hold the artifact), so eviction never takes an artifact below R copies.
import { PieceStoreError, PieceStoreErrorCode } from './errors.ts';
import type { Reservation, SpaceBudget } from './ingest.ts';
import type { ArtifactStore } from './store.ts';

export interface RetentionOptions {
  store: ArtifactStore;
  /** Byte budget for stored artifacts; 0 = unlimited. */
  limitBytes: number;
  /** Whether dropping this replica's copy keeps R copies elsewhere. */
  canEvict(infoHash: string): Promise<boolean>;
  /** Drops this replica's copy (stops seeding it, removes it). */
  evict(infoHash: string): Promise<void>;
  /** Most candidates examined per eviction run. */
  maxCandidates?: number;
}

export class Retention implements SpaceBudget {
  readonly #options: RetentionOptions;
  #reserved = 0;
  /** One eviction run at a time; later callers wait for it, then check again. */
  #evicting: Promise<void> = Promise.resolve();

  constructor(options: RetentionOptions) {
    this.#options = options;
  }

  get reservedBytes(): number {
    return this.#reserved;
  }

  async reserve(bytes: number): Promise<Reservation> {
    let held = 0;
    let released = false;
    const grow = async (more: number): Promise<void> => {
      if (released) throw new Error('reservation already released');
      await this.#claim(more);
      held += more;
    };
    await grow(bytes);
    return {
      grow,
      tryGrow: (more: number) => {
        if (released || this.#free() < more) return false;
        this.#reserved += more;
        held += more;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#reserved -= held;
      },
    };
  }

  /** True while stored plus reserved bytes exceed the budget. */
  get overBudget(): boolean {
    return this.#free() < 0;
  }

  /** Evicts safe copies, least recently used first, until `needed` more bytes fit. */
  makeRoom(needed: number): Promise<void> {
    const run = this.#evicting.then(() => this.#evictUntil(needed));
    this.#evicting = run.catch(() => {});
    return run;
  }

  async #claim(bytes: number): Promise<void> {
    if (this.#options.limitBytes === 0) {
      this.#reserved += bytes;
      return;
    }
    if (this.#free() < bytes) await this.makeRoom(bytes);
    if (this.#free() < bytes) {
      throw new PieceStoreError(
        PieceStoreErrorCode.NoSpace,
        `no room for ${bytes} more bytes: ${this.#options.store.usedBytes} stored and ${this.#reserved} reserved of a ${this.#options.limitBytes}-byte budget, and no copy can be evicted without going below the replica count`,
      );
    }
    this.#reserved += bytes;
  }

  #free(): number {
    if (this.#options.limitBytes === 0) return Number.POSITIVE_INFINITY;
    return this.#options.limitBytes - this.#options.store.usedBytes - this.#reserved;
  }

  async #evictUntil(needed: number): Promise<void> {
    const { store, canEvict, evict, maxCandidates = 1000 } = this.#options;
    const candidates = store
      .list()
      .sort((a, b) => a.lastAccessUnixMs - b.lastAccessUnixMs)
      .slice(0, maxCandidates);
    for (const candidate of candidates) {
      if (this.#free() >= needed) return;
      if (!store.has(candidate.infoHash)) continue;
      if (!(await canEvict(candidate.infoHash))) continue;
      await evict(candidate.infoHash);
    }
  }
}
