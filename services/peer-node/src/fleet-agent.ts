// Fleet commands over NATS: `distribute` makes this node fetch an artifact when its labels
// match the selector, with progress reports until it ends; presence heartbeats and answers to
// presence queries tell a caller which nodes exist and what they carry.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  createFleetSubjects,
  type DistributeCommand,
  decodeDistributeCommand,
  decodeTorrentBase64,
  encodeFleetProgress,
  encodeNodePresence,
  type FleetProgress,
  type FleetProgressState,
  MAX_FLEET_ERROR_LENGTH,
  matchesSelector,
  type NodePresence,
} from '@shoal/bus';
import type { Logger } from '@shoal/service-kit';
import { asPeerNodeError } from './errors.ts';
import type { FetchSource } from './metainfo-source.ts';
import type { PeerNodeService } from './node.ts';
import type { JobProgress, JobState, TorrentJob } from './torrent-job.ts';

/** Command ids remembered to ignore repeats (a command re-published, or seen twice). */
const MAX_REMEMBERED_COMMANDS = 1000;

export interface FleetAgentOptions {
  nc: NatsConnection;
  service: PeerNodeService;
  logger: Logger;
}

export class FleetAgent {
  readonly #nc: NatsConnection;
  readonly #service: PeerNodeService;
  readonly #logger: Logger;
  readonly #subjects: ReturnType<typeof createFleetSubjects>;
  readonly #seen = new Set<string>();
  readonly #subscriptions: Subscription[] = [];
  readonly #followers = new Set<() => void>();
  #presenceTimer: NodeJS.Timeout | undefined;

  constructor(options: FleetAgentOptions) {
    this.#nc = options.nc;
    this.#service = options.service;
    this.#logger = options.logger;
    this.#subjects = createFleetSubjects(options.service.config.subjectPrefix);
  }

  start(): void {
    this.#subscriptions.push(
      this.#nc.subscribe(this.#subjects.distribute, {
        callback: (error, msg) => {
          if (error) {
            this.#logger.warn({ err: error }, 'distribute subscription error');
            return;
          }
          this.#onDistribute(msg.data);
        },
      }),
      this.#nc.subscribe(this.#subjects.presenceQuery, {
        callback: (error, msg) => {
          if (error || msg.reply === undefined || msg.reply === '') return;
          msg.respond(encodeNodePresence(this.#presence()));
        },
      }),
    );
    // Distributions this node was working on before a restart: keep reporting on them.
    for (const job of this.#service.jobs()) {
      const { commandId } = job.record;
      if (commandId !== undefined && !job.done) {
        this.#remember(commandId);
        this.#follow(
          { commandId, infoHash: job.infoHash, selector: '', at: job.record.addedAt },
          job,
        );
      }
    }
    this.#publishPresence();
    this.#presenceTimer = setInterval(
      () => this.#publishPresence(),
      this.#service.config.presenceIntervalMs,
    );
    this.#presenceTimer.unref();
  }

  /** Says goodbye (a last presence with `leaving`) and stops listening. */
  async stop(): Promise<void> {
    clearInterval(this.#presenceTimer);
    for (const stop of this.#followers) stop();
    this.#followers.clear();
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    try {
      this.#nc.publish(this.#subjects.presence, encodeNodePresence(this.#presence(true)));
      await this.#nc.flush();
    } catch {
      // Not connected: the heartbeat TTL removes the node from callers' views instead.
    }
  }

  #onDistribute(data: Uint8Array): void {
    const metrics = this.#service.metrics.fleetCommands;
    let command: DistributeCommand;
    try {
      command = decodeDistributeCommand(data);
    } catch (error) {
      metrics.inc({ outcome: 'invalid' });
      this.#logger.warn({ err: error }, 'ignoring an invalid distribute command');
      return;
    }
    if (this.#seen.has(command.commandId)) {
      metrics.inc({ outcome: 'duplicate' });
      return;
    }
    this.#remember(command.commandId);
    if (!matchesSelector(this.#service.config.labels, command.selector)) {
      metrics.inc({ outcome: 'not-selected' });
      return;
    }
    metrics.inc({ outcome: 'started' });
    this.#logger.info(
      { commandId: command.commandId, infoHash: command.infoHash, selector: command.selector },
      'distribute command accepted',
    );
    this.#report(command, { state: 'accepted' });
    void this.#run(command);
  }

  async #run(command: DistributeCommand): Promise<void> {
    let job: TorrentJob;
    try {
      const source: FetchSource =
        command.torrent === undefined
          ? { kind: 'infoHash', infoHash: command.infoHash }
          : { kind: 'torrent', torrent: decodeTorrentBase64(command.torrent) };
      job = await this.#service.fetch({
        source,
        origin: 'distribute',
        commandId: command.commandId,
      });
      if (job.infoHash !== command.infoHash) {
        throw new Error(`the command's torrent is ${job.infoHash}, not ${command.infoHash}`);
      }
    } catch (error) {
      this.#report(command, { state: 'failed', error: asPeerNodeError(error).message });
      return;
    }
    this.#follow(command, job);
  }

  /** Reports the job's progress at most once per progress interval, and its end at once. */
  #follow(command: DistributeCommand, job: TorrentJob): void {
    const interval = this.#service.config.progressIntervalMs;
    let lastSentAt = 0;
    let lastState: FleetProgressState | undefined;
    const send = (progress: JobProgress) => {
      const state = fleetState(progress.state);
      const now = Date.now();
      if (state === lastState && now - lastSentAt < interval) return;
      lastSentAt = now;
      lastState = state;
      this.#report(command, fromJob(progress));
    };
    const onUpdate = (progress: JobProgress) => send(progress);
    const onDone = (progress: JobProgress) => {
      stop();
      this.#report(command, fromJob(progress));
    };
    const stop = () => {
      job.off('update', onUpdate);
      job.off('done', onDone);
      this.#followers.delete(stop);
    };
    this.#followers.add(stop);
    if (job.done) {
      onDone(job.progress());
      return;
    }
    job.on('update', onUpdate);
    job.on('done', onDone);
  }

  #report(
    command: DistributeCommand,
    fields: Partial<FleetProgress> & { state: FleetProgressState },
  ): void {
    const report: FleetProgress = {
      commandId: command.commandId,
      nodeId: this.#service.config.nodeId,
      infoHash: command.infoHash,
      bytesDone: 0,
      bytesTotal: 0,
      rateBytesPerS: 0,
      peers: 0,
      bytesFromOrigin: 0,
      bytesFromPeers: 0,
      at: Date.now(),
      ...fields,
    };
    if (report.error !== undefined) report.error = report.error.slice(0, MAX_FLEET_ERROR_LENGTH);
    try {
      this.#nc.publish(this.#subjects.progress(command.commandId), encodeFleetProgress(report));
    } catch (error) {
      this.#logger.warn({ err: error, commandId: command.commandId }, 'progress report not sent');
    }
  }

  #publishPresence(): void {
    try {
      this.#nc.publish(this.#subjects.presence, encodeNodePresence(this.#presence()));
    } catch (error) {
      this.#logger.debug({ err: error }, 'presence not sent');
    }
  }

  #presence(leaving = false): NodePresence {
    const status = this.#service.status();
    let downloading = 0;
    let seeding = 0;
    for (const torrent of status.torrents) {
      if (torrent.state === 'seeding') seeding++;
      else if (!['complete', 'failed'].includes(torrent.state)) downloading++;
    }
    return {
      nodeId: status.nodeId,
      labels: status.labels,
      wireIp: this.#service.config.advertiseIp,
      wirePort: Math.max(1, status.listenPort),
      torrents: status.torrents.length,
      downloading,
      seeding,
      uploadedBytes: status.uploadedTotal,
      downloadedBytes: status.downloadedTotal,
      startedAt: this.#service.startedAt,
      at: Date.now(),
      ...(leaving ? { leaving: true } : {}),
    };
  }

  #remember(commandId: string): void {
    this.#seen.add(commandId);
    if (this.#seen.size > MAX_REMEMBERED_COMMANDS) {
      const oldest = this.#seen.values().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
  }
}

function fleetState(state: JobState): FleetProgressState {
  switch (state) {
    case 'metadata':
      return 'metadata';
    case 'checking':
    case 'downloading':
      return 'downloading';
    case 'verifying':
      return 'verifying';
    case 'seeding':
    case 'complete':
      return 'complete';
    case 'failed':
      return 'failed';
  }
}

function fromJob(progress: JobProgress): Partial<FleetProgress> & { state: FleetProgressState } {
  return {
    state: fleetState(progress.state),
    bytesDone: progress.bytesDone,
    bytesTotal: progress.bytesTotal,
    rateBytesPerS: progress.rate,
    peers: progress.peers,
    bytesFromOrigin: progress.bytesFromOrigin,
    bytesFromPeers: progress.bytesFromPeers,
    ...(progress.etaS === undefined ? {} : { etaS: progress.etaS }),
    ...(progress.path === '' ? {} : { path: progress.path }),
    ...(progress.error === undefined ? {} : { error: progress.error.message }),
  };
}
