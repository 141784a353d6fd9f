import { counter, createMetricsRegistry, gauge, type Registry } from '@shoal/service-kit';

export interface PeerNodeMetrics {
  readonly registry: Registry;
  readonly downloadedBytes: ReturnType<typeof counter<'source'>>;
  readonly uploadedBytes: ReturnType<typeof counter>;
  readonly fetches: ReturnType<typeof counter<'outcome'>>;
  readonly peersBanned: ReturnType<typeof counter>;
  readonly announceFailures: ReturnType<typeof counter>;
  readonly fleetCommands: ReturnType<typeof counter<'outcome'>>;
  readonly torrents: ReturnType<typeof gauge<'state'>>;
  readonly peers: ReturnType<typeof gauge>;
  readonly downloadRate: ReturnType<typeof gauge>;
}

export function createPeerNodeMetrics(nodeId: string): PeerNodeMetrics {
  const registry = createMetricsRegistry({
    prefix: 'shoal_peer_node_',
    defaultLabels: { node: nodeId },
  });
  return {
    registry,
    downloadedBytes: counter(
      registry,
      'shoal_peer_node_downloaded_bytes_total',
      'Piece bytes received, by source: the origin (piece-store) or other peers',
      ['source'],
    ),
    uploadedBytes: counter(
      registry,
      'shoal_peer_node_uploaded_bytes_total',
      'Piece bytes sent to peers',
    ),
    fetches: counter(
      registry,
      'shoal_peer_node_fetches_total',
      'Fetches that ended, by outcome (complete or the error code)',
      ['outcome'],
    ),
    peersBanned: counter(
      registry,
      'shoal_peer_node_peers_banned_total',
      'Peers banned for sending pieces that failed their hash',
    ),
    announceFailures: counter(
      registry,
      'shoal_peer_node_announce_failures_total',
      'Announces to the tracker that got no answer',
    ),
    fleetCommands: counter(
      registry,
      'shoal_peer_node_fleet_commands_total',
      'Distribute commands received, by outcome (started, not-selected, invalid, duplicate)',
      ['outcome'],
    ),
    torrents: gauge(registry, 'shoal_peer_node_torrents', 'Torrents on the node, by state', [
      'state',
    ]),
    peers: gauge(registry, 'shoal_peer_node_peers', 'Connected peers over every torrent'),
    downloadRate: gauge(
      registry,
      'shoal_peer_node_download_rate_bytes',
      'Download rate over every torrent, bytes/s',
    ),
  };
}
