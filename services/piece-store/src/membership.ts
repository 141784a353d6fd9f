// The live set of piece-store replicas, from their heartbeats. Pure state with an injected
// clock: the cluster layer feeds it heartbeats and ticks; placement reads `liveIds()`.
import type { PieceStoreHeartbeat } from '@shoal/bus';

export interface ReplicaView {
  heartbeat: PieceStoreHeartbeat;
  /** Local clock when its last heartbeat arrived (never the sender's clock: no skew). */
  seenAtMs: number;
}

export type MembershipChange =
  | { type: 'joined'; replicaId: string }
  | { type: 'restarted'; replicaId: string }
  | { type: 'left'; replicaId: string; reason: 'leaving' | 'expired' };

export class Membership {
  readonly selfId: string;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #replicas = new Map<string, ReplicaView>();

  constructor(options: { selfId: string; ttlMs: number; now?: () => number }) {
    this.selfId = options.selfId;
    this.#ttlMs = options.ttlMs;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Records a heartbeat of another replica (our own echoes are ignored) and returns the
   * change it makes to the live set, if any. A replica counts once it says it is ready.
   */
  observe(heartbeat: PieceStoreHeartbeat): MembershipChange | undefined {
    const id = heartbeat.replicaId;
    if (id === this.selfId) return undefined;
    const previous = this.#replicas.get(id);
    if (heartbeat.leaving === true || !heartbeat.ready) {
      if (previous === undefined) return undefined;
      this.#replicas.delete(id);
      return { type: 'left', replicaId: id, reason: 'leaving' };
    }
    this.#replicas.set(id, { heartbeat, seenAtMs: this.#now() });
    if (previous === undefined) return { type: 'joined', replicaId: id };
    if (previous.heartbeat.incarnation !== heartbeat.incarnation) {
      return { type: 'restarted', replicaId: id };
    }
    return undefined;
  }

  /** Drops replicas not heard from within the TTL and returns them. */
  expire(): MembershipChange[] {
    const cutoff = this.#now() - this.#ttlMs;
    const changes: MembershipChange[] = [];
    for (const [id, view] of this.#replicas) {
      if (view.seenAtMs >= cutoff) continue;
      this.#replicas.delete(id);
      changes.push({ type: 'left', replicaId: id, reason: 'expired' });
    }
    return changes;
  }

  /** Ids of every live replica, this one included, sorted. */
  liveIds(): string[] {
    return [this.selfId, ...this.#replicas.keys()].sort();
  }

  /** The other live replicas. */
  peers(): ReplicaView[] {
    return [...this.#replicas.values()];
  }

  get(replicaId: string): ReplicaView | undefined {
    return this.#replicas.get(replicaId);
  }
}
