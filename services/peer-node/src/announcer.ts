// Announces to the tracker over NATS with the node's locality labels. A failed announce never
// throws into the engine: it answers "no peers, ask again in N s" with N doubling up to a cap,
// and the event that did not get through ('started', 'completed') is sent with the next try.
import {
  type AnnounceEvent,
  type AnnounceResponse,
  announceOverNats,
  type NatsRequester,
  type PeerLabels,
} from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import type { Announcer, PeerAddress } from '@shoal/swarm';

type EngineAnnounce = Parameters<Announcer['announce']>[0];

/** What the tracker last said about the swarm, for the seeding policy and `Status`. */
export interface SwarmView {
  seeders: number;
  leechers: number;
  at: number;
}

export interface NatsAnnouncerOptions {
  /** The connection, or `undefined` while NATS is not (yet) connected. */
  nats: () => NatsRequester | undefined;
  subjectPrefix: string;
  peerIdHex: string;
  advertiseIp: string;
  labels: PeerLabels;
  logger: Logger;
  /** Called with every tracker answer. */
  onSwarm?: (view: SwarmView) => void;
  onFailure?: () => void;
  /** Reply deadline per announce; default 3000 ms. */
  timeoutMs?: number;
  /** First and longest wait after a failure, in seconds; default 1 and 60. */
  minBackoffS?: number;
  maxBackoffS?: number;
  random?: () => number;
  now?: () => number;
}

export class NatsAnnouncer implements Announcer {
  readonly #options: NatsAnnouncerOptions;
  #failures = 0;
  /** An event the tracker has not acknowledged yet: sent again with the next announce. */
  #pendingEvent: AnnounceEvent | undefined;
  #lastError: string | undefined;

  constructor(options: NatsAnnouncerOptions) {
    this.#options = options;
  }

  /** The last failure's message while the tracker is unreachable, else `undefined`. */
  get lastError(): string | undefined {
    return this.#lastError;
  }

  async announce(
    request: EngineAnnounce,
  ): Promise<{ peers: PeerAddress[]; intervalSeconds: number }> {
    const { logger } = this.#options;
    const event = request.event === 'periodic' ? this.#pendingEvent : request.event;
    // A 'stopped' that fails is not retried: the node is going away from the swarm anyway.
    if (event === 'started' || event === 'completed') this.#pendingEvent = event;
    const nc = this.#options.nats();
    try {
      if (nc === undefined) throw new Error('NATS is not connected');
      const response = await announceOverNats(
        nc,
        {
          infoHash: request.infoHash,
          peerId: this.#options.peerIdHex,
          ip: this.#options.advertiseIp,
          port: request.port,
          uploaded: request.uploaded,
          downloaded: request.downloaded,
          left: request.left,
          ...(event === undefined ? {} : { event }),
          labels: this.#options.labels,
        },
        { prefix: this.#options.subjectPrefix, timeoutMs: this.#options.timeoutMs ?? 3000 },
      );
      if (this.#failures > 0)
        logger.info({ infoHash: request.infoHash }, 'tracker reachable again');
      this.#failures = 0;
      this.#lastError = undefined;
      if (this.#pendingEvent === event) this.#pendingEvent = undefined;
      this.#options.onSwarm?.({
        seeders: response.complete,
        leechers: response.incomplete,
        at: (this.#options.now ?? Date.now)(),
      });
      return { peers: toPeerAddresses(response), intervalSeconds: nextInterval(response, request) };
    } catch (error) {
      this.#failures++;
      this.#lastError = error instanceof Error ? error.message : String(error);
      this.#options.onFailure?.();
      const wait = this.backoffSeconds(this.#failures);
      logger.warn(
        {
          infoHash: request.infoHash,
          failures: this.#failures,
          retryInS: wait,
          err: this.#lastError,
        },
        'announce failed; retrying with back-off',
      );
      return { peers: [], intervalSeconds: wait };
    }
  }

  /** Seconds to wait after `failures` failures in a row: doubling, capped, with ±20 % jitter. */
  backoffSeconds(failures: number): number {
    const min = this.#options.minBackoffS ?? 1;
    const max = this.#options.maxBackoffS ?? 60;
    const base = Math.min(max, min * 2 ** Math.min(failures - 1, 30));
    const jitter = 0.8 + 0.4 * (this.#options.random ?? Math.random)();
    return Math.max(min, Math.min(max, base * jitter));
  }
}

/**
 * While downloading, re-announce at the tracker's minimum interval so new peers are found
 * quickly; once complete, at its regular interval.
 */
function nextInterval(response: AnnounceResponse, request: EngineAnnounce): number {
  return request.left > 0 ? response.minInterval : response.interval;
}

function toPeerAddresses(response: AnnounceResponse): PeerAddress[] {
  return response.peers.map((peer) => ({
    host: peer.ip,
    port: peer.port,
    peerId: peer.peerId,
    seeder: peer.seeder,
    ...(peer.labels === undefined ? {} : { labels: { ...peer.labels } }),
  }));
}
