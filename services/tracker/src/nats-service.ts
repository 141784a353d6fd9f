import { type Service, type ServiceMsg, Svcm } from '@nats-io/services';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  BusError,
  decodeMessage,
  type ErrorReply,
  MAX_TRACKER_REQUEST_BYTES,
  ScrapeRequest,
  type Subjects,
  TRACKER_QUEUE_GROUP,
  TRACKER_SERVICE_NAME,
} from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import { badRequest, TrackerError, TrackerErrorCode } from './errors.ts';
import { canonicalPeerIp } from './ip.ts';
import type { TrackerMetrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit.ts';
import { type AnnounceResult, announceReplyBytes, type Tracker } from './tracker.ts';
import { decodeAnnounce } from './validate.ts';
import { PublishError } from './write-behind.ts';

const encoder = new TextEncoder();

export interface NatsServiceOptions {
  tracker: Tracker;
  subjects: Subjects;
  limiter: RateLimiter;
  metrics: TrackerMetrics;
  logger: Logger;
  replicaId: string;
  version: string;
  /**
   * Called after each announce handled: sends the writes it queued with the replies of this
   * turn (`SwarmStore.sendSoon`).
   */
  sendWrites?: () => void;
}

/**
 * Announce and scrape as endpoints of a NATS service (`shoal-tracker`) in one queue group, so
 * every replica shares the load and shows up in `$SRV.PING/INFO/STATS` with request counts.
 */
export async function startNatsService(
  nc: NatsConnection,
  options: NatsServiceOptions,
): Promise<Service> {
  const { tracker, subjects, limiter, metrics, logger } = options;
  // @nats-io/services is built against an older nats-core whose connection type differs only
  // in members the service does not use.
  const service = await new Svcm(nc as unknown as ConstructorParameters<typeof Svcm>[0]).add({
    name: TRACKER_SERVICE_NAME,
    version: options.version,
    description: 'shoal tracker: announce and scrape',
    queue: TRACKER_QUEUE_GROUP,
    metadata: { replica: options.replicaId },
  });

  const fail = (kind: 'announce' | 'scrape', msg: ServiceMsg, error: unknown): string => {
    const failure = toTrackerError(error);
    if (failure.code === TrackerErrorCode.Internal) {
      logger.error({ err: error, kind }, 'request failed');
    }
    const body: ErrorReply = { error: { code: failure.code, message: failure.message } };
    // Header values are one line; the full message is in the JSON body.
    msg.respondError(
      failure.status,
      failure.message.replace(/[\r\n]+/g, ' ').slice(0, 200),
      encoder.encode(JSON.stringify(body)),
    );
    return failure.code;
  };
  const announced = (msg: ServiceMsg, started: number, result: AnnounceResult) => {
    msg.respond(announceReplyBytes(result));
    metrics.recordRequest('nats', 'announce', 'ok', (performance.now() - started) / 1000);
  };
  const failed = (msg: ServiceMsg, started: number, error: unknown) => {
    const outcome = fail('announce', msg, error);
    metrics.recordRequest('nats', 'announce', outcome, (performance.now() - started) / 1000);
  };

  // Called for every announce: no promise unless the tracker has to wait for KV (`stopped`, a
  // first completion); a regular announce is answered within the handler.
  service.addEndpoint('announce', {
    subject: subjects.trackerAnnounce,
    handler: (error, msg) => {
      if (error !== null) {
        logger.error({ err: error }, 'announce endpoint failed');
        return;
      }
      const started = performance.now();
      let result: AnnounceResult | Promise<AnnounceResult>;
      try {
        const request = decodeAnnounce(msg.data);
        const ip = canonicalPeerIp(request.ip);
        if (ip === undefined)
          throw badRequest(`ip ${request.ip} is not a reachable unicast address`);
        // Per peer and swarm: a node announcing many swarms at start is not one flooding one.
        if (limiter.enabled && !limiter.take(`${request.infoHash}.${request.peerId}`)) {
          throw new TrackerError(
            TrackerErrorCode.RateLimited,
            `peer ${request.peerId} announces swarm ${request.infoHash} too often`,
          );
        }
        request.ip = ip;
        result = tracker.announce(request);
        options.sendWrites?.();
      } catch (error) {
        failed(msg, started, error);
        return;
      }
      if (result instanceof Promise) {
        result
          .then(
            (done) => announced(msg, started, done),
            (error: unknown) => failed(msg, started, error),
          )
          // Replying fails only when the connection is closed (shutdown): nobody to tell.
          .catch((error: unknown) => logger.warn({ err: error }, 'announce reply not sent'));
      } else {
        announced(msg, started, result);
      }
    },
  });
  service.addEndpoint('scrape', {
    subject: subjects.trackerScrape,
    handler: (error, msg) => {
      if (error !== null) {
        logger.error({ err: error }, 'scrape endpoint failed');
        return;
      }
      const started = performance.now();
      let outcome = 'ok';
      try {
        const request = decodeMessage(ScrapeRequest, msg.data, MAX_TRACKER_REQUEST_BYTES);
        msg.respond(encoder.encode(JSON.stringify({ swarms: tracker.scrape(request.infoHashes) })));
      } catch (error) {
        outcome = fail('scrape', msg, error);
      }
      metrics.recordRequest('nats', 'scrape', outcome, (performance.now() - started) / 1000);
    },
  });
  return service;
}

/** Any failure as the error the client sees: bad messages are 400s, the unexpected a 500. */
export function toTrackerError(error: unknown): TrackerError {
  if (error instanceof TrackerError) return error;
  if (error instanceof BusError) return badRequest(error.message);
  if (error instanceof PublishError) {
    return new TrackerError(
      TrackerErrorCode.Unavailable,
      `swarm state store unavailable: ${error.message}`,
      { cause: error },
    );
  }
  return new TrackerError(TrackerErrorCode.Internal, 'internal error', { cause: error });
}
