// `shoal distribute <infohash> [--selector k=v]...`: sends the fleet `distribute` command over
// NATS and follows every matching node's progress reports in one aggregated view, then prints
// the summary (wall time, throughput, bytes from the origin versus from peers).
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createInbox, type NatsConnection } from '@nats-io/transport-node';
import {
  createFleetSubjects,
  decodeFleetProgress,
  decodeNodePresence,
  encodeDistributeCommand,
  encodeTorrentBase64,
  MAX_BUS_TORRENT_BYTES,
  matchesSelector,
  type NodePresence,
  parseSelector,
  type SelectorTerm,
} from '@shoal/bus';
import { parseTorrent } from '@shoal/protocol';
import { checkKnown, parseArtifactRef } from '../artifact-ref.ts';
import { connectNats } from '../clients.ts';
import { type DistributionSummary, DistributionTracker } from '../distribution.ts';
import { CliError, CliErrorCode, oneLine } from '../errors.ts';
import { formatBytes, formatDuration, formatPercent, formatRate, renderTable } from '../format.ts';
import type { Output } from '../output.ts';
import { readRunningSwarm } from '../state.ts';

export interface DistributeOptions {
  selector: string[];
  timeout: number;
  stallTimeout: number;
  /** Also write the JSON result here (the demo reads it while people watch the live view). */
  report?: string;
}

export interface DistributeResult extends DistributionSummary {
  commandId: string;
  infoHash: string;
  selector: string;
}

/** How long nodes get to answer the presence query. */
const PRESENCE_WAIT_MS = 1500;
const TICK_MS = 250;

export async function distributeCommand(
  { runDir, output }: { runDir: string; output: Output },
  text: string,
  options: DistributeOptions,
): Promise<void> {
  const selector = options.selector.join(',');
  let terms: SelectorTerm[];
  try {
    terms = parseSelector(selector);
  } catch (error) {
    throw new CliError(CliErrorCode.Usage, oneLine(error), { cause: error });
  }
  const ref = await parseArtifactRef(text);
  const state = await readRunningSwarm(runDir);
  const nc = await connectNats(state.nats.url, { reconnect: true });
  try {
    const torrent =
      ref.kind === 'torrent'
        ? ref.torrent
        : await checkKnown(nc, state.subjectPrefix, ref.infoHash);
    const subjects = createFleetSubjects(state.subjectPrefix);
    const present = await queryPresence(nc, subjects.presenceQuery, state.peerNodes.length);
    const matching = present.filter((node) => !node.leaving && matchesSelector(node.labels, terms));
    if (matching.length === 0) {
      throw new CliError(
        CliErrorCode.NotFound,
        `no node matches ${selector === '' ? 'the empty selector' : `selector ${selector}`} (${present.length} nodes answered)`,
      );
    }
    const result = await follow(nc, output, {
      subjects,
      infoHash: ref.infoHash,
      selector,
      torrent,
      expected: matching.map((node) => node.nodeId),
      options,
    });
    printSummary(output, result);
    if (options.report !== undefined) await writeReport(options.report, result);
    const unfinished = result.nodes.filter((node) => node.state !== 'complete');
    if (unfinished.length > 0) {
      throw new CliError(
        CliErrorCode.Failed,
        `${unfinished.length} of ${result.nodes.length} nodes did not complete: ${unfinished
          .slice(0, 5)
          .map((node) => `${node.nodeId} ${node.state}${node.error ? ` (${node.error})` : ''}`)
          .join(', ')}`,
      );
    }
  } finally {
    await nc.close().catch(() => {});
  }
}

/** Asks every node for its presence; stops early once `expected` nodes answered. */
async function queryPresence(
  nc: NatsConnection,
  subject: string,
  expected: number,
): Promise<NodePresence[]> {
  const inbox = createInbox();
  const answers = new Map<string, NodePresence>();
  let enough: () => void = () => {};
  const allIn = new Promise<void>((resolve) => {
    enough = resolve;
  });
  const sub = nc.subscribe(inbox, {
    callback: (error, msg) => {
      if (error !== null) return;
      try {
        const presence = decodeNodePresence(msg.data);
        answers.set(presence.nodeId, presence);
        if (expected > 0 && answers.size >= expected) enough();
      } catch {
        // a malformed answer is not a node we can count on
      }
    },
  });
  nc.publish(subject, new Uint8Array(), { reply: inbox });
  await Promise.race([allIn, new Promise((resolve) => setTimeout(resolve, PRESENCE_WAIT_MS))]);
  sub.unsubscribe();
  return [...answers.values()];
}

async function follow(
  nc: NatsConnection,
  output: Output,
  job: {
    subjects: ReturnType<typeof createFleetSubjects>;
    infoHash: string;
    selector: string;
    torrent: Uint8Array | undefined;
    expected: string[];
    options: DistributeOptions;
  },
): Promise<DistributeResult> {
  const commandId = `cli-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const startedMs = Date.now();
  const tracker = new DistributionTracker({
    startedMs,
    stallMs: job.options.stallTimeout * 1000,
    expected: job.expected,
    sizeHint: sizeOf(job.torrent),
  });
  const progress = nc.subscribe(job.subjects.progress(commandId), {
    callback: (error, msg) => {
      if (error !== null) return;
      try {
        const report = decodeFleetProgress(msg.data);
        if (report.infoHash === job.infoHash) tracker.report(report, Date.now());
      } catch {
        // a malformed report changes nothing
      }
    },
  });
  const presence = nc.subscribe(job.subjects.presence, {
    callback: (error, msg) => {
      if (error !== null) return;
      try {
        const node = decodeNodePresence(msg.data);
        if (node.leaving) tracker.leaving(node.nodeId, Date.now());
      } catch {
        // ignore
      }
    },
  });
  // Subscriptions reach the server before the command does, so no early report is missed.
  await nc.flush();
  const torrent =
    job.torrent !== undefined && job.torrent.length <= MAX_BUS_TORRENT_BYTES
      ? { torrent: encodeTorrentBase64(job.torrent) }
      : {};
  nc.publish(
    job.subjects.distribute,
    encodeDistributeCommand({
      commandId,
      infoHash: job.infoHash,
      selector: job.selector,
      ...torrent,
      at: startedMs,
    }),
  );

  const view = output.progress({
    bar: 'distribute {bar} {percentage}% | nodes {nodes} | {rate} | slowest {slowest} | {elapsed}',
    plain: (done, total, fields) =>
      `distribute: ${formatPercent(done, total)} (${formatBytes(done)} of ${formatBytes(total)}), nodes ${fields.nodes} done, ${fields.rate}, slowest ${fields.slowest}, ${fields.elapsed}`,
  });
  const deadline = job.options.timeout > 0 ? startedMs + job.options.timeout * 1000 : Infinity;
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  try {
    for (;;) {
      const now = Date.now();
      tracker.checkStalls(now);
      const snap = tracker.snapshot();
      view.update(snap.bytesDone, snap.bytesTotal, {
        nodes: `${snap.nodesDone}/${snap.nodesTotal}`,
        rate: formatRate(snap.rateBytesPerS),
        slowest:
          snap.slowest === undefined
            ? '-'
            : `${snap.slowest.nodeId} ${(snap.slowest.fraction * 100).toFixed(0)}%`,
        elapsed: formatDuration((now - startedMs) / 1000),
      });
      if (tracker.done()) break;
      if (interrupted) {
        throw new CliError(CliErrorCode.Interrupted, 'interrupted; the nodes go on fetching');
      }
      if (now > deadline) {
        view.stop();
        const partial = {
          commandId,
          infoHash: job.infoHash,
          selector: job.selector,
          ...tracker.summary(now),
        };
        printSummary(output, partial);
        if (job.options.report !== undefined) await writeReport(job.options.report, partial);
        throw new CliError(
          CliErrorCode.Timeout,
          `distribution not finished after ${job.options.timeout} s (${snap.nodesDone}/${snap.nodesTotal} nodes done)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    }
  } finally {
    process.off('SIGINT', onSignal);
    view.stop();
    progress.unsubscribe();
    presence.unsubscribe();
  }
  return {
    commandId,
    infoHash: job.infoHash,
    selector: job.selector,
    ...tracker.summary(Date.now()),
  };
}

async function writeReport(file: string, result: DistributeResult): Promise<void> {
  try {
    await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  } catch (error) {
    throw new CliError(CliErrorCode.BadFile, `cannot write the report ${file}: ${oneLine(error)}`, {
      cause: error,
    });
  }
}

function sizeOf(torrent: Uint8Array | undefined): number | undefined {
  if (torrent === undefined) return undefined;
  try {
    return parseTorrent(torrent).totalLength;
  } catch {
    return undefined;
  }
}

function printSummary(output: Output, result: DistributeResult): void {
  output.result(result);
  output.line(
    renderTable(
      ['node', 'state', 'time', 'from origin', 'from peers', 'path / error'],
      result.nodes.map((node) => [
        node.nodeId,
        node.state,
        formatDuration(node.seconds),
        formatBytes(node.bytesFromOrigin),
        formatBytes(node.bytesFromPeers),
        node.error ?? node.path ?? '',
      ]),
    ),
  );
  const moved = result.bytesFromOrigin + result.bytesFromPeers;
  output.line('');
  output.line(
    `nodes complete    ${result.complete}/${result.nodes.length}${result.failed + result.lost > 0 ? ` (${result.failed} failed, ${result.lost} lost)` : ''}`,
  );
  output.line(`wall time         ${formatDuration(result.wallSeconds)}`);
  output.line(
    `delivered         ${formatBytes(result.bytesDelivered)} (${formatRate(result.throughputBytesPerS)} aggregate)`,
  );
  output.line(
    `from the origin   ${formatBytes(result.bytesFromOrigin)} (${formatPercent(result.bytesFromOrigin, moved)})`,
  );
  output.line(
    `from peers        ${formatBytes(result.bytesFromPeers)} (${formatPercent(result.bytesFromPeers, moved)})`,
  );
  output.line(`origin offload    ${result.originOffloadPercent.toFixed(1)}%`);
}
