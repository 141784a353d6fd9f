// `shoal status`: the swarm's services (alive or not), the artifacts the piece-store holds with
// their swarm counts from the tracker, and every peer-node's torrents and seeding state.
import { type SwarmCounts, scrapeOverNats } from '@shoal/bus';
import type { Artifact__Output, StatusResponse__Output } from '@shoal/proto';
import {
  busError,
  connectNats,
  deadline,
  peerNodeClient,
  pieceStoreClient,
  unary,
} from '../clients.ts';
import { oneLine } from '../errors.ts';
import { formatBytes, formatPercent, renderTable } from '../format.ts';
import type { Output } from '../output.ts';
import { isAlive, sameProcess } from '../processes.ts';
import { readRunningSwarm } from '../state.ts';

const STATUS_DEADLINE_MS = 5000;
/** Infohashes per scrape request (the tracker's limit is 100). */
const SCRAPE_BATCH = 100;

export interface NodeStatus {
  nodeId: string;
  reachable: boolean;
  error?: string;
  labels: Record<string, string>;
  uploadedTotal: number;
  downloadedTotal: number;
  torrents: StatusResponse__Output['torrents'];
}

export async function statusCommand({
  runDir,
  output,
}: {
  runDir: string;
  output: Output;
}): Promise<void> {
  const state = await readRunningSwarm(runDir);
  // In start order: nats-server, tracker, piece-store, peer-nodes.
  const services = [
    state.nats,
    ...(state.tracker === undefined ? [] : [state.tracker]),
    ...state.pieceStores,
    ...state.peerNodes,
  ].map((entry) => ({
    name: entry.name,
    pid: entry.pid,
    running: isAlive(entry.pid) && sameProcess(entry),
    log: entry.logFile,
  }));

  const store = state.pieceStores[0];
  let artifacts: Artifact__Output[] = [];
  let storeError: string | undefined;
  if (store !== undefined) {
    const client = pieceStoreClient(store.grpcAddress);
    try {
      const list = await unary<{ artifacts: Artifact__Output[] }>(
        `the piece-store at ${store.grpcAddress}`,
        (callback) => client.List({}, { deadline: deadline(STATUS_DEADLINE_MS) }, callback),
      );
      artifacts = list.artifacts;
    } catch (error) {
      storeError = oneLine(error);
    } finally {
      client.close();
    }
  }

  const nodes = await Promise.all(
    state.peerNodes.map((node) => nodeStatus(node.grpcSocket, node.nodeId, node.labels)),
  );

  const infoHashes = [
    ...new Set([
      ...artifacts.map((a) => a.infoHash),
      ...nodes.flatMap((n) => n.torrents.map((t) => t.infoHash)),
    ]),
  ];
  const swarms = new Map<string, SwarmCounts>();
  let trackerError: string | undefined;
  if (infoHashes.length > 0) {
    const nc = await connectNats(state.nats.url).catch((error: unknown) => {
      trackerError = oneLine(error);
      return undefined;
    });
    try {
      for (let i = 0; nc !== undefined && i < infoHashes.length; i += SCRAPE_BATCH) {
        const batch = infoHashes.slice(i, i + SCRAPE_BATCH);
        const scrape = await scrapeOverNats(
          nc,
          { infoHashes: batch },
          { prefix: state.subjectPrefix, timeoutMs: STATUS_DEADLINE_MS },
        );
        for (const swarm of scrape.swarms) swarms.set(swarm.infoHash, swarm);
      }
    } catch (error) {
      trackerError = oneLine(busError('tracker', error));
    } finally {
      await nc?.close().catch(() => {});
    }
  }

  const names = new Map<string, { name: string; size: number }>();
  for (const artifact of artifacts)
    names.set(artifact.infoHash, { name: artifact.name, size: Number(artifact.size) });
  for (const node of nodes) {
    for (const torrent of node.torrents) {
      if (!names.has(torrent.infoHash))
        names.set(torrent.infoHash, { name: torrent.name, size: torrent.bytesTotal });
    }
  }
  const swarmRows = infoHashes.map((infoHash) => {
    const counts = swarms.get(infoHash);
    const holders = nodes.filter((node) =>
      node.torrents.some(
        (t) => t.infoHash === infoHash && t.bytesDone === t.bytesTotal && t.bytesTotal > 0,
      ),
    );
    return {
      infoHash,
      name: names.get(infoHash)?.name ?? '',
      size: names.get(infoHash)?.size ?? 0,
      onPieceStore: artifacts.some((a) => a.infoHash === infoHash),
      seeders: counts?.complete,
      leechers: counts?.incomplete,
      completed: counts?.downloaded,
      nodesHolding: holders.length,
    };
  });

  output.result({
    runDir,
    services,
    pieceStore: { address: store?.grpcAddress, error: storeError, artifacts: artifacts.length },
    trackerError,
    swarms: swarmRows,
    nodes,
  });

  output.line(
    renderTable(
      ['service', 'pid', 'state'],
      services.map((s) => [s.name, String(s.pid), s.running ? 'running' : 'DOWN', s.log]),
    ),
  );
  output.line('');
  if (storeError !== undefined) output.line(`piece-store: ${storeError}`);
  if (trackerError !== undefined) output.line(`tracker: ${trackerError}`);
  output.line(
    swarmRows.length === 0
      ? 'no artifacts yet (publish one with: shoal publish <file>)'
      : renderTable(
          [
            'infohash',
            'name',
            'size',
            'origin',
            'seeders',
            'leechers',
            'completed',
            'nodes holding',
          ],
          swarmRows.map((row) => [
            row.infoHash,
            row.name,
            formatBytes(row.size),
            row.onPieceStore ? 'yes' : 'no',
            row.seeders === undefined ? '?' : String(row.seeders),
            row.leechers === undefined ? '?' : String(row.leechers),
            row.completed === undefined ? '?' : String(row.completed),
            `${row.nodesHolding}/${nodes.length}`,
          ]),
        ),
  );
  output.line('');
  output.line(
    renderTable(
      ['node', 'rack', 'torrent', 'state', 'done', 'uploaded', 'seeding'],
      nodes.flatMap((node) => {
        if (!node.reachable)
          return [
            [node.nodeId, node.labels.rack ?? '', '-', 'UNREACHABLE', '-', '-', node.error ?? ''],
          ];
        if (node.torrents.length === 0)
          return [[node.nodeId, node.labels.rack ?? '', '-', 'idle', '-', '-', '-']];
        return node.torrents.map((torrent) => [
          node.nodeId,
          node.labels.rack ?? '',
          torrent.infoHash.slice(0, 12),
          torrent.state,
          formatPercent(torrent.bytesDone, torrent.bytesTotal),
          formatBytes(torrent.uploaded),
          `${torrent.seeding ? 'yes' : 'no'}${torrent.seedingReason ? ` (${torrent.seedingReason})` : ''}`,
        ]);
      }),
    ),
  );
}

async function nodeStatus(
  socket: string,
  nodeId: string,
  labels: Record<string, string>,
): Promise<NodeStatus> {
  const client = peerNodeClient(socket);
  try {
    const status = await unary<StatusResponse__Output>(`peer-node ${nodeId}`, (callback) =>
      client.Status({}, { deadline: deadline(STATUS_DEADLINE_MS) }, callback),
    );
    return {
      nodeId: status.nodeId || nodeId,
      reachable: true,
      labels: { ...labels, ...status.labels },
      uploadedTotal: status.uploadedTotal,
      downloadedTotal: status.downloadedTotal,
      torrents: status.torrents,
    };
  } catch (error) {
    return {
      nodeId,
      reachable: false,
      error: oneLine(error),
      labels,
      uploadedTotal: 0,
      downloadedTotal: 0,
      torrents: [],
    };
  } finally {
    client.close();
  }
}
