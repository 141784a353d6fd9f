import { createSubjects } from '@shoal/bus';
import { connectNats, type Logger, Readiness, startHttpServer } from '@shoal/service-kit';
import type { AutoscalerConfig } from './config.ts';
import { SwarmDemand } from './demand.ts';
import { createKubeApi, instrumentKubeApi, loadKubeConfig } from './kube.ts';
import { LeaderElector } from './leader.ts';
import { createAutoscalerMetrics } from './metrics.ts';
import { Scaler } from './scaler.ts';
import { subscribeSwarmStats } from './stats-feed.ts';

export interface RunningAutoscaler {
  httpPort: number;
  /** Stops scaling, hands the Lease back, drains NATS and closes the HTTP server. */
  close(): Promise<void>;
}

/** Most time a NATS drain may take at shutdown before the connection is closed outright. */
const DRAIN_TIMEOUT_MS = 2000;

export async function startAutoscaler(
  config: AutoscalerConfig,
  logger: Logger,
): Promise<RunningAutoscaler> {
  const metrics = createAutoscalerMetrics({ identity: config.identity });
  const readiness = new Readiness();
  readiness.set('nats', false, 'connecting');
  readiness.set('kube', false, 'no lease round trip yet');
  const closers: { name: string; close: () => Promise<unknown> | unknown }[] = [];
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      readiness.set('shutdown', false);
      for (const { name, close: step } of [...closers].reverse()) {
        try {
          await step();
        } catch (error) {
          logger.warn({ err: error, step: name }, 'shutdown step failed');
        }
      }
    })();
    return closing;
  };

  try {
    // HTTP first, so liveness and metrics answer while NATS and the API are still being reached.
    const http = await startHttpServer({
      host: config.http.host,
      port: config.http.port,
      registry: metrics.registry,
      readiness,
      logger,
    });
    closers.push({ name: 'http', close: () => http.close() });

    const api = instrumentKubeApi(
      createKubeApi(loadKubeConfig(config.kubeconfig), {
        namespace: config.namespace,
        statefulSet: config.statefulSet,
        lease: config.leaseName,
        timeoutMs: config.apiTimeoutMs,
      }),
      (op, outcome) => metrics.apiCalls.inc({ op, outcome }),
    );

    const nc = await connectNats(config.natsAuth, {
      servers: config.natsServers,
      name: `shoal-autoscaler-${config.identity}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: true,
    });
    let natsUp = true;
    readiness.set('nats', true);
    closers.push({
      name: 'nats',
      close: () =>
        Promise.race([
          nc.drain(),
          new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref()).then(() =>
            nc.close(),
          ),
        ]),
    });
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          natsUp = false;
          readiness.set('nats', false, 'disconnected');
          logger.warn('nats disconnected');
        } else if (status.type === 'reconnect') {
          natsUp = true;
          readiness.set('nats', true);
          logger.info({ server: nc.getServer() }, 'nats reconnected');
        }
      }
    })();

    const demand = new SwarmDemand({
      maxAgeMs: config.statsMaxAgeMs,
      demandThreshold: config.demandThreshold,
      maxSwarms: config.maxSwarms,
    });
    const subscription = subscribeSwarmStats(nc, {
      subjects: createSubjects(config.subjectPrefix),
      demand,
      metrics,
      logger,
    });
    closers.push({ name: 'stats subscription', close: () => subscription.unsubscribe() });

    const elector = new LeaderElector({
      api,
      identity: config.identity,
      leaseDurationS: config.lease.durationS,
      renewDeadlineMs: config.lease.renewDeadlineMs,
      retryMs: config.lease.retryMs,
      logger,
      onChange: (leading) => {
        metrics.leader.set(leading ? 1 : 0);
        metrics.leaderTransitions.inc({ event: leading ? 'acquired' : 'lost' });
      },
      onReachableChange: (reachable) =>
        readiness.set('kube', reachable, reachable ? undefined : 'lease calls failing'),
    });
    metrics.leader.set(0);
    elector.start();
    closers.push({ name: 'leader election', close: () => elector.stop() });

    const scaler = new Scaler({
      api,
      demand,
      policy: config.policy,
      dryRun: config.dryRun,
      intervalMs: config.intervalMs,
      isLeader: () => elector.isLeader(),
      statsFeedUp: () => natsUp,
      apiAttempts: config.apiAttempts,
      logger,
      metrics,
    });
    scaler.start();
    closers.push({ name: 'scaler', close: () => scaler.stop() });

    logger.info(
      {
        http: http.url,
        namespace: config.namespace,
        statefulSet: config.statefulSet,
        lease: config.leaseName,
        identity: config.identity,
        policy: config.policy,
        dryRun: config.dryRun,
        statsSubject: createSubjects(config.subjectPrefix).trackerStatsAll,
      },
      'autoscaler ready',
    );
    return { httpPort: http.port, close };
  } catch (error) {
    await close();
    throw error;
  }
}
