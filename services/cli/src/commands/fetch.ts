// `shoal fetch <infohash|magnet|.torrent> -o <dir>`: one peer-node of the local swarm fetches
// the artifact through its gRPC API while a live bar shows rate, peers, ETA and where the bytes
// came from (the origin piece-store or other peers).
import { mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FetchProgress__Output, FetchRequest } from '@shoal/proto';
import { type ArtifactRef, checkKnown, parseArtifactRef } from '../artifact-ref.ts';
import { connectNats, grpcError, peerNodeClient } from '../clients.ts';
import { CliError, CliErrorCode } from '../errors.ts';
import { formatBytes, formatDuration, formatPercent, formatRate } from '../format.ts';
import type { Output } from '../output.ts';
import { readRunningSwarm } from '../state.ts';

export interface FetchResult {
  infoHash: string;
  node: string;
  path: string;
  bytes: number;
  seconds: number;
  bytesFromOrigin: number;
  bytesFromPeers: number;
}

export async function fetchCommand(
  { runDir, output }: { runDir: string; output: Output },
  text: string,
  options: { output: string; node: number },
): Promise<void> {
  const ref = await parseArtifactRef(text);
  const state = await readRunningSwarm(runDir);
  const node = state.peerNodes[options.node];
  if (node === undefined) {
    throw new CliError(
      CliErrorCode.Usage,
      `--node ${options.node}: the swarm has ${state.peerNodes.length} peer-nodes (0 to ${state.peerNodes.length - 1})`,
    );
  }
  if (ref.kind !== 'torrent') {
    const nc = await connectNats(state.nats.url);
    try {
      await checkKnown(nc, state.subjectPrefix, ref.infoHash);
    } finally {
      await nc.close();
    }
  }
  const destination = resolve(options.output);
  await mkdir(destination, { recursive: true });

  const client = peerNodeClient(node.grpcSocket);
  const what = `peer-node ${node.nodeId} (${node.grpcSocket})`;
  const started = Date.now();
  const view = output.progress({
    bar: '{state} {bar} {percentage}% | {done}/{size} | {rate} | {peers} peers | ETA {eta} | origin {origin} peers {fromPeers}',
    plain: (done, total, fields) =>
      `${fields.state} ${formatBytes(done)} of ${formatBytes(total)} at ${fields.rate}, ${fields.peers} peers, ETA ${fields.eta}`,
  });
  let last: FetchProgress__Output | undefined;
  try {
    last = await new Promise<FetchProgress__Output | undefined>((resolveFetch, reject) => {
      const call = client.Fetch(fetchRequest(ref, destination));
      const onSignal = () => {
        call.cancel();
        reject(
          new CliError(
            CliErrorCode.Interrupted,
            'interrupted; the node keeps what it has verified',
          ),
        );
      };
      process.once('SIGINT', onSignal);
      let latest: FetchProgress__Output | undefined;
      call.on('data', (event: FetchProgress__Output) => {
        latest = event;
        const fromAll = event.bytesFromOrigin + event.bytesFromPeers;
        view.update(event.bytesDone, event.bytesTotal, {
          state: event.state.padEnd(11),
          done: formatBytes(event.bytesDone),
          size: formatBytes(event.bytesTotal),
          rate: formatRate(event.rateBytesPerS),
          peers: String(event.peers),
          eta: event.state === 'downloading' ? formatDuration(event.etaS) : '-',
          origin: formatPercent(event.bytesFromOrigin, fromAll),
          fromPeers: formatPercent(event.bytesFromPeers, fromAll),
        });
      });
      call.on('error', (error) => {
        process.off('SIGINT', onSignal);
        reject(grpcError(what, error));
      });
      call.on('end', () => {
        process.off('SIGINT', onSignal);
        resolveFetch(latest);
      });
    });
  } finally {
    view.stop();
    client.close();
  }

  if (last === undefined)
    throw new CliError(CliErrorCode.Failed, `${what} ended the fetch without a report`);
  if (last.state === 'failed' || last.error !== '') {
    const notFound = /not found|unknown|no such/i.test(last.error);
    throw new CliError(
      notFound ? CliErrorCode.NotFound : CliErrorCode.Failed,
      `fetch failed on ${node.nodeId}: ${last.error || 'no reason given'}`,
    );
  }
  if (last.state !== 'complete') {
    throw new CliError(CliErrorCode.Failed, `${what} ended the fetch in state ${last.state}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const result: FetchResult = {
    infoHash: last.infoHash,
    node: node.nodeId,
    path: last.path,
    bytes: last.bytesTotal,
    seconds,
    bytesFromOrigin: last.bytesFromOrigin,
    bytesFromPeers: last.bytesFromPeers,
  };
  output.result(result);
  const fromAll = result.bytesFromOrigin + result.bytesFromPeers;
  output.line(
    `fetched ${formatBytes(result.bytes)} to ${result.path} in ${formatDuration(seconds)} (${formatRate(result.bytes / Math.max(seconds, 0.001))}; ${formatPercent(result.bytesFromPeers, fromAll)} from peers)`,
  );
}

function fetchRequest(ref: ArtifactRef, destination: string): FetchRequest {
  switch (ref.kind) {
    case 'infoHash':
      return { infoHash: ref.infoHash, destination };
    case 'magnet':
      return { magnet: ref.magnet, destination };
    case 'torrent':
      return { torrent: ref.torrent, destination };
  }
}
