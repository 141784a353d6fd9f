import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { decodeSwarmStats, type Subjects } from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import type { SwarmDemand } from './demand.ts';
import type { AutoscalerMetrics } from './metrics.ts';

/**
 * Feeds every swarm stats message the tracker publishes into `demand`. A message that does not
 * decode, or whose infohash is not the one its subject names, is counted and dropped.
 */
export function subscribeSwarmStats(
  nc: NatsConnection,
  options: {
    subjects: Subjects;
    demand: SwarmDemand;
    metrics: AutoscalerMetrics;
    logger: Logger;
    now?: () => number;
  },
): Subscription {
  const { subjects, demand, metrics, logger } = options;
  const now = options.now ?? (() => performance.now());
  const subjectBase = subjects.trackerStatsAll.slice(0, -1);
  return nc.subscribe(subjects.trackerStatsAll, {
    callback: (error, msg) => {
      if (error !== null) {
        logger.warn({ err: error }, 'stats subscription error');
        return;
      }
      try {
        const stats = decodeSwarmStats(msg.data);
        if (msg.subject !== `${subjectBase}${stats.infoHash}`) {
          metrics.statsMessages.inc({ outcome: 'invalid' });
          logger.debug({ subject: msg.subject }, 'stats infohash does not match its subject');
          return;
        }
        metrics.statsMessages.inc({ outcome: demand.record(stats, now()) });
      } catch (decodeError) {
        metrics.statsMessages.inc({ outcome: 'invalid' });
        logger.debug({ err: decodeError, subject: msg.subject }, 'invalid stats message dropped');
      }
    },
  });
}
