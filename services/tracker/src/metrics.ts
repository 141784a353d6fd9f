import {
  counter,
  createMetricsRegistry,
  gauge,
  histogram,
  type Registry,
} from '@shoal/service-kit';
import type { SwarmCache } from './swarm-cache.ts';

export type Transport = 'nats' | 'http';

export function createTrackerMetrics(options: { replicaId: string; cache: SwarmCache }) {
  const registry: Registry = createMetricsRegistry({
    prefix: 'shoal_tracker_',
    defaultLabels: { replica: options.replicaId },
  });
  // Read from the cache when scraped instead of updated on every announce.
  gauge(registry, 'shoal_tracker_swarms', 'Swarms held in this replica’s cache', [], (g) =>
    g.set(options.cache.swarmCount),
  );
  gauge(registry, 'shoal_tracker_peers', 'Peer records held in this replica’s cache', [], (g) =>
    g.set(options.cache.peerCount),
  );
  const requests = counter(
    registry,
    'shoal_tracker_requests_total',
    'Announce and scrape requests by transport, kind and outcome (ok or an error code)',
    ['transport', 'kind', 'outcome'] as const,
  );
  const duration = histogram(
    registry,
    'shoal_tracker_request_duration_seconds',
    'Time from receiving a request to sending its answer',
    ['transport', 'kind'] as const,
  );
  // Label lookups hash their values on every call; the hot path reuses bound children.
  const bound = new Map<string, { count: () => void; observe: (seconds: number) => void }>();
  return {
    registry,
    /** Counts one answered request and its latency. */
    recordRequest(
      transport: Transport,
      kind: 'announce' | 'scrape',
      outcome: string,
      seconds: number,
    ) {
      const key = `${transport}/${kind}/${outcome}`;
      let child = bound.get(key);
      if (child === undefined) {
        const counted = requests.labels({ transport, kind, outcome });
        const timed = duration.labels({ transport, kind });
        child = { count: () => counted.inc(), observe: (s) => timed.observe(s) };
        bound.set(key, child);
      }
      child.count();
      child.observe(seconds);
    },
    statsLeader: gauge(
      registry,
      'shoal_tracker_stats_leader',
      '1 while this replica holds the lease to publish swarm stats',
    ),
    statsPublished: counter(
      registry,
      'shoal_tracker_stats_published_total',
      'Swarm stats messages published',
    ),
  };
}
export type TrackerMetrics = ReturnType<typeof createTrackerMetrics>;
