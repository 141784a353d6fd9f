import { BusError, BusErrorCode } from './errors.ts';
import { isHexId } from './ids.ts';

/** The prefix every shoal subject starts with unless configured otherwise. */
export const DEFAULT_SUBJECT_PREFIX = 'shoal';

// One token: no `.` (separator), `*`/`>` (wildcards), whitespace or control characters.
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;
const PREFIX = /^[A-Za-z0-9_-]{1,64}(\.[A-Za-z0-9_-]{1,64}){0,7}$/;

/** Returns `value` when it is safe as one subject token, else throws `BusError(InvalidSubject)`. */
export function subjectToken(value: string): string {
  if (!TOKEN.test(value)) {
    throw new BusError(
      BusErrorCode.InvalidSubject,
      `subject token ${JSON.stringify(value)} must be 1-64 characters of A-Z a-z 0-9 _ -`,
    );
  }
  return value;
}

function subjectPrefix(value: string): string {
  if (!PREFIX.test(value)) {
    throw new BusError(
      BusErrorCode.InvalidSubject,
      `subject prefix ${JSON.stringify(value)} must be 1-8 dot-separated tokens of A-Z a-z 0-9 _ - (no wildcards, no trailing dot)`,
    );
  }
  return value;
}

/**
 * Every NATS subject shoal uses, under one prefix (`shoal` by default, e.g. `shoal.prod` to
 * share a NATS account between environments). Services and clients build subjects only here.
 */
export function createSubjects(prefix: string = DEFAULT_SUBJECT_PREFIX) {
  const p = subjectPrefix(prefix);
  return {
    prefix: p,
    /** Request/reply, served by the tracker's queue group: `AnnounceRequest` → `AnnounceResponse`. */
    trackerAnnounce: `${p}.tracker.announce`,
    /** Request/reply: `ScrapeRequest` → `ScrapeResponse`. */
    trackerScrape: `${p}.tracker.scrape`,
    /** Pub/sub, every few seconds per swarm: `SwarmStats`. */
    trackerStats(infoHash: string): string {
      if (!isHexId(infoHash)) {
        throw new BusError(
          BusErrorCode.InvalidSubject,
          `infohash ${JSON.stringify(infoHash)} is not 40 lowercase hex characters`,
        );
      }
      return `${p}.tracker.stats.${infoHash}`;
    },
    /** Subscription wildcard for the stats of every swarm. */
    trackerStatsAll: `${p}.tracker.stats.*`,
  } as const;
}
export type Subjects = ReturnType<typeof createSubjects>;

/** The NATS services framework name (service discovery, `$SRV.*`) and queue group of the tracker. */
export const TRACKER_SERVICE_NAME = 'shoal-tracker';
export const TRACKER_QUEUE_GROUP = 'shoal-tracker';
