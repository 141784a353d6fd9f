// When a node keeps seeding a completed torrent: named strategies picked by config, pure
// functions of the facts the node gathers (clock, upload total, the tracker's leecher count).
// Each decision carries the sentence `Status` shows, so an operator sees why.
import { PeerNodeError, PeerNodeErrorCode } from './errors.ts';

export interface SeedingFacts {
  /** Now, ms since the epoch. */
  readonly now: number;
  /** When the torrent completed (or was published), ms since the epoch. */
  readonly completedAt: number;
  /** Bytes uploaded for this torrent, over every run of the node. */
  readonly uploaded: number;
  /** The torrent's size in bytes. */
  readonly size: number;
  /** Leechers the tracker last reported, or `undefined` if it has not answered since completion. */
  readonly leechers: number | undefined;
  /** When the tracker last reported at least one leecher (ms since the epoch), if ever. */
  readonly lastLeecherAt: number | undefined;
}

export interface SeedingDecision {
  readonly seed: boolean;
  /** One sentence: why the node is or is not seeding. */
  readonly reason: string;
}

export interface SeedingPolicy {
  /** The configured text, e.g. `ratio:2`. */
  readonly name: string;
  decide(facts: SeedingFacts): SeedingDecision;
}

const SEEDING_POLICY_NAMES = ['while-needed', 'time:<seconds>', 'ratio:<x>', 'forever'];

/**
 * The policy named by `text`:
 * - `while-needed` (default): seed while the tracker reports leechers, then `graceSeconds`
 *   more (a late joiner still finds a nearby copy); seed while the tracker has not answered;
 * - `time:<seconds>`: seed that long after completion;
 * - `ratio:<x>`: seed until uploaded bytes reach x times the size;
 * - `forever`.
 * An unknown name or a bad number throws `PeerNodeError(InvalidConfig)`.
 */
export function parseSeedingPolicy(text: string, graceSeconds: number): SeedingPolicy {
  const [kind, argument, ...rest] = text.trim().split(':');
  const bad = (why: string): never => {
    throw new PeerNodeError(
      PeerNodeErrorCode.InvalidConfig,
      `seeding policy ${JSON.stringify(text)}: ${why} (one of ${SEEDING_POLICY_NAMES.join(', ')})`,
    );
  };
  if (rest.length > 0) bad('too many ":"');
  switch (kind) {
    case 'while-needed':
      if (argument !== undefined) bad('takes no argument (the grace period is its own setting)');
      return whileNeeded(graceSeconds);
    case 'forever':
      if (argument !== undefined) bad('takes no argument');
      return { name: 'forever', decide: () => ({ seed: true, reason: 'policy forever' }) };
    case 'time': {
      const seconds = Number(argument);
      if (argument === undefined || !/^\d+$/.test(argument) || !Number.isSafeInteger(seconds)) {
        bad('time needs whole seconds, e.g. time:3600');
      }
      return timePolicy(seconds);
    }
    case 'ratio': {
      const ratio = Number(argument);
      if (argument === undefined || !/^\d+(\.\d+)?$/.test(argument) || !(ratio > 0)) {
        bad('ratio needs a positive number, e.g. ratio:1.5');
      }
      return ratioPolicy(ratio);
    }
    default:
      return bad('unknown policy');
  }
}

function whileNeeded(graceSeconds: number): SeedingPolicy {
  const graceMs = graceSeconds * 1000;
  return {
    name: 'while-needed',
    decide: ({ now, completedAt, leechers, lastLeecherAt }) => {
      if (leechers === undefined) {
        return { seed: true, reason: 'while-needed: waiting for the tracker to report leechers' };
      }
      if (leechers > 0) {
        return {
          seed: true,
          reason: `while-needed: ${leechers} leecher${leechers === 1 ? '' : 's'} still downloading`,
        };
      }
      const since = Math.max(completedAt, lastLeecherAt ?? 0);
      const left = since + graceMs - now;
      if (left > 0) {
        return {
          seed: true,
          reason: `while-needed: no leechers; grace period ends in ${Math.ceil(left / 1000)} s`,
        };
      }
      return {
        seed: false,
        reason: `while-needed: no leechers for the ${graceSeconds} s grace period`,
      };
    },
  };
}

function timePolicy(seconds: number): SeedingPolicy {
  return {
    name: `time:${seconds}`,
    decide: ({ now, completedAt }) => {
      const left = completedAt + seconds * 1000 - now;
      return left > 0
        ? { seed: true, reason: `time:${seconds}: ${Math.ceil(left / 1000)} s of seeding left` }
        : { seed: false, reason: `time:${seconds}: seeded ${seconds} s after completion` };
    },
  };
}

function ratioPolicy(ratio: number): SeedingPolicy {
  return {
    name: `ratio:${ratio}`,
    decide: ({ uploaded, size }) => {
      const reached = size === 0 ? ratio : uploaded / size;
      const shown = reached.toFixed(2);
      return reached < ratio
        ? { seed: true, reason: `ratio:${ratio}: uploaded ${shown} of ${ratio} copies` }
        : { seed: false, reason: `ratio:${ratio}: uploaded ${shown} copies, target reached` };
    },
  };
}
