// Which replicas own an artifact: rendezvous (highest random weight) hashing. Every replica
// scores every artifact; the R best-scoring replicas own it. Adding or removing a replica only
// moves the artifacts whose owner set it enters or leaves, and every replica that sees the same
// live set computes the same owners with no coordination.
import { createHash } from 'node:crypto';

/** The rendezvous weight of `replicaId` for `infoHash`: first 8 bytes of SHA-256, big-endian. */
export function rendezvousScore(infoHash: string, replicaId: string): bigint {
  const digest = createHash('sha256').update(`${infoHash}\u0000${replicaId}`).digest();
  return digest.readBigUInt64BE(0);
}

/**
 * The `replicas` (R) owners of `infoHash` among `replicaIds`, best first. Fewer when fewer
 * replicas exist. Duplicated ids count once; ties (never seen in practice) go to the smaller id.
 */
export function rendezvousOwners(
  infoHash: string,
  replicaIds: Iterable<string>,
  replicas: number,
): string[] {
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new RangeError(`replicas must be a positive integer, got ${replicas}`);
  }
  const scored = [...new Set(replicaIds)].map((id) => ({
    id,
    score: rendezvousScore(infoHash, id),
  }));
  scored.sort((a, b) => {
    if (a.score !== b.score) return a.score > b.score ? -1 : 1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
  return scored.slice(0, replicas).map((entry) => entry.id);
}
