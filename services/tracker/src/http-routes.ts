import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger, RouteHandler } from '@shoal/service-kit';
import { badRequest, TrackerError, TrackerErrorCode } from './errors.ts';
import {
  encodeAnnounceReply,
  encodeFailure,
  encodeScrapeReply,
  ipParam,
  parseAnnounceQuery,
  parseRawQuery,
  parseScrapeQuery,
} from './http-codec.ts';
import { canonicalPeerIp } from './ip.ts';
import type { TrackerMetrics } from './metrics.ts';
import { toTrackerError } from './nats-service.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { Tracker } from './tracker.ts';

function send(res: ServerResponse, body: Uint8Array): void {
  res.writeHead(200, {
    'content-type': 'text/plain',
    'content-length': body.length,
    'cache-control': 'no-store',
  });
  res.end(body);
}

/**
 * `/announce` and `/scrape` for standard BitTorrent clients. Every answer is HTTP 200 with a
 * bencoded body, failures included (`failure reason`), as BEP 3 clients expect.
 */
export function trackerRoutes(options: {
  tracker: Tracker;
  limiter: RateLimiter;
  trustIpParam: boolean;
  metrics: TrackerMetrics;
  logger: Logger;
}): Record<string, RouteHandler> {
  const { tracker, limiter, metrics, logger } = options;

  const handle =
    (
      kind: 'announce' | 'scrape',
      work: (req: IncomingMessage, rawQuery: string) => Promise<Uint8Array> | Uint8Array,
    ): RouteHandler =>
    async (req, res, target) => {
      const started = performance.now();
      let outcome = 'ok';
      let body: Uint8Array;
      try {
        const source = canonicalPeerIp(req.socket.remoteAddress ?? '');
        if (source === undefined) throw badRequest('request comes from an unusable address');
        if (!limiter.take(source)) {
          throw new TrackerError(
            TrackerErrorCode.RateLimited,
            'too many requests from this address, slow down',
          );
        }
        body = await work(req, target.rawQuery);
      } catch (error) {
        const failure = toTrackerError(error);
        outcome = failure.code;
        if (failure.code === TrackerErrorCode.Internal) {
          logger.error({ err: error, kind }, 'request failed');
        }
        const retry =
          failure.code === TrackerErrorCode.RateLimited ||
          failure.code === TrackerErrorCode.Unavailable;
        body = encodeFailure(failure.message, retry ? 1 : undefined);
      }
      send(res, body);
      metrics.recordRequest('http', kind, outcome, (performance.now() - started) / 1000);
    };

  return {
    '/announce': handle('announce', async (req, rawQuery) => {
      const params = parseRawQuery(rawQuery);
      let ip = canonicalPeerIp(req.socket.remoteAddress ?? '') ?? '';
      const claimed = ipParam(params);
      if (options.trustIpParam && claimed !== undefined) {
        const canonical = canonicalPeerIp(claimed);
        if (canonical === undefined)
          throw badRequest(
            `ip ${JSON.stringify(claimed.slice(0, 64))} is not a reachable unicast address`,
          );
        ip = canonical;
      }
      const announce = parseAnnounceQuery(params, ip);
      const { infoHash, peerId, event, left, port } = announce.request;
      logger.debug({ infoHash, peerId, ip, port, event, left }, 'http announce');
      const reply = await tracker.announce(announce.request);
      return encodeAnnounceReply(reply, announce);
    }),
    '/scrape': handle('scrape', (_req, rawQuery) =>
      encodeScrapeReply(tracker.scrape(parseScrapeQuery(parseRawQuery(rawQuery)))),
    ),
  };
}
