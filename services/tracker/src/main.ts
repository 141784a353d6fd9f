// The tracker process: `node --conditions=source services/tracker/src/main.ts`, configured by
// SHOAL_* environment variables (README.md lists them).
import { readFileSync } from 'node:fs';
import { createSubjects } from '@shoal/bus';
import {
  connectNats,
  createLogger,
  describeStartupFailure,
  installShutdown,
  Readiness,
  ServiceKitError,
  startHttpServer,
} from '@shoal/service-kit';
import { loadTrackerConfig, type TrackerConfig } from './config.ts';
import { HANDOUT_POLICIES } from './handout.ts';
import { trackerRoutes } from './http-routes.ts';
import { createTrackerMetrics } from './metrics.ts';
import { startNatsService } from './nats-service.ts';
import { RateLimiter } from './rate-limit.ts';
import { StatsPublisher } from './stats.ts';
import { SwarmCache } from './swarm-cache.ts';
import { SwarmStore } from './swarm-store.ts';
import { refreshAfterMs, type SwarmWriter, Tracker } from './tracker.ts';

const { version } = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

async function main(config: TrackerConfig): Promise<void> {
  const logger = createLogger({
    service: 'shoal-tracker',
    level: config.logLevel,
    base: { replica: config.replicaId },
  });
  const shutdown = installShutdown({ logger, timeoutMs: 10_000 });
  const subjects = createSubjects(config.subjectPrefix);
  const cache = new SwarmCache({ ttlMs: config.peerTtlMs });
  const metrics = createTrackerMetrics({ replicaId: config.replicaId, cache });
  const readiness = new Readiness();
  for (const name of ['nats', 'kv', 'state']) readiness.set(name, false);

  // HTTP comes up first so liveness and metrics answer while NATS is still being reached.
  let store: SwarmStore | undefined;
  const writer: SwarmWriter = {
    putPeer: (infoHash, peerId, record) => store!.putPeer(infoHash, peerId, record),
    deletePeer: (infoHash, peerId) => store!.deletePeer(infoHash, peerId),
    addCompletion: (infoHash) => store!.addCompletion(infoHash),
  };
  const tracker = new Tracker({
    cache,
    writer,
    policy: HANDOUT_POLICIES[config.handoutPolicy],
    intervalS: config.intervalS,
    minIntervalS: config.minIntervalS,
    maxPeersPerSwarm: config.maxPeersPerSwarm,
    maxSwarms: config.maxSwarms,
    maxInflight: config.maxInflight,
    refreshAfterMs: refreshAfterMs(config.peerTtlMs, config.intervalS * 1000),
    isReady: () => readiness.ready,
  });
  const http = await startHttpServer({
    host: config.httpHost,
    port: config.httpPort,
    registry: metrics.registry,
    readiness,
    logger,
    routes: trackerRoutes({
      tracker,
      limiter: new RateLimiter({
        ratePerSecond: config.httpRatePerIp,
        burst: config.httpBurstPerIp,
      }),
      trustIpParam: config.trustIpParam,
      metrics,
      logger,
    }),
  });
  shutdown.add('http', () => http.close());
  logger.info({ url: http.url }, 'http listening');

  const nc = await connectNats(config.natsAuth, {
    servers: config.natsServers,
    name: `shoal-tracker-${config.replicaId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: true,
    // Async stack traces build an Error per request (including every KV write): a measurable
    // share of the announce path's CPU.
    noAsyncTraces: true,
  });
  readiness.set('nats', true);
  // Drain flushes pending replies; with the server unreachable it would wait, so it is bounded.
  shutdown.add('nats', () =>
    Promise.race([
      nc.drain(),
      new Promise((resolve) => setTimeout(resolve, 2000).unref()).then(() => nc.close()),
    ]),
  );
  logger.info({ server: nc.getServer() }, 'nats connected');

  store = await SwarmStore.open(nc, {
    bucketBase: config.bucketBase,
    peerTtlMs: config.peerTtlMs,
    swarmRetentionMs: config.swarmRetentionMs,
    leaseTtlMs: 3 * config.statsIntervalMs,
    cache,
    logger,
    maxUnacknowledged: config.maxInflight,
  });
  const opened = store;
  readiness.set('kv', true);
  // Runs after the service stopped taking requests and before NATS drains: the writes still
  // behind get sent and acknowledged (bounded wait) before the connection goes.
  shutdown.add('store', async () => {
    const unacknowledged = opened.unacknowledged;
    if (!(await opened.close(2000))) {
      logger.warn({ unacknowledged }, 'some peer writes were not acknowledged before shutdown');
    }
  });
  await opened.watch();
  readiness.set('state', true);

  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') {
        readiness.set('nats', false, 'disconnected');
        logger.warn('nats disconnected');
      } else if (status.type === 'reconnect') {
        readiness.set('nats', true);
        logger.info({ server: nc.getServer() }, 'nats reconnected, restarting kv watches');
        await rewatch(opened, logger);
      }
    }
  })();

  const sweep = setInterval(() => cache.sweep(), Math.min(config.peerTtlMs / 4, 10_000));
  sweep.unref();
  shutdown.add('sweep', () => clearInterval(sweep));

  const service = await startNatsService(nc, {
    tracker,
    subjects,
    limiter: new RateLimiter({
      ratePerSecond: config.natsRatePerPeer,
      burst: config.natsBurstPerPeer,
    }),
    metrics,
    logger,
    replicaId: config.replicaId,
    version,
    sendWrites: () => opened.sendSoon(),
  });
  shutdown.add('nats service', () => service.stop());

  const stats = new StatsPublisher({
    nc,
    leases: opened.leases,
    cache,
    subjects,
    intervalMs: config.statsIntervalMs,
    replicaId: config.replicaId,
    metrics,
    logger,
  });
  stats.start();
  shutdown.add('stats', () => stats.stop());
  // Registered last so it runs first: stop looking ready before anything closes.
  shutdown.add('readiness', () => readiness.set('shutdown', false));
  logger.info(
    {
      http: http.url,
      announceSubject: subjects.trackerAnnounce,
      intervalS: config.intervalS,
      peerTtlS: config.peerTtlMs / 1000,
      policy: config.handoutPolicy,
    },
    'tracker ready',
  );
}

/** After a reconnect JetStream may need a moment; retry the watches a bounded number of times. */
async function rewatch(store: SwarmStore, logger: ReturnType<typeof createLogger>): Promise<void> {
  for (let attempt = 1; attempt <= 50; attempt++) {
    try {
      await store.watch();
      return;
    } catch (error) {
      logger.warn({ err: error, attempt }, 'kv watch restart failed, retrying');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  logger.error('kv watches could not be restarted; the cache is stale until the next reconnect');
}

let config: TrackerConfig;
try {
  config = loadTrackerConfig(process.env);
} catch (error) {
  if (error instanceof ServiceKitError) {
    process.stderr.write(`shoal-tracker: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
main(config).catch((error: unknown) => {
  process.stderr.write(`shoal-tracker: failed to start: ${describeStartupFailure(error)}\n`);
  process.exit(1);
});
