// One swarm node in its own process, driven by loopback.bench.ts over IPC.
import { readFile } from 'node:fs/promises';
import { hashFilePieces } from '@shoal/hashing';
import { parseTorrent } from '@shoal/protocol';
import {
  Bitfield,
  BlobStorage,
  FileLayoutStorage,
  type PeerAddress,
  type PieceStorage,
  SwarmNode,
} from '../src/index.ts';

export type ToNode =
  | { type: 'peers'; peers: PeerAddress[] }
  | { type: 'stats' }
  | { type: 'close' };

export type FromNode =
  | { type: 'ready'; port: number }
  | { type: 'complete'; at: number; maxRssKiB: number; cpuMs: number }
  | {
      type: 'stats';
      uploaded: number;
      downloaded: number;
      fromOrigin: number;
      sha256ok: boolean | null;
      /** CPU (all threads, user + system) since the node was ready. */
      cpuMs: number;
    }
  | { type: 'closed'; maxRssKiB: number }
  | { type: 'error'; message: string };

const [role, torrentPath, dataPath] = process.argv.slice(2);
if ((role !== 'origin' && role !== 'leecher') || !torrentPath || !dataPath) {
  throw new Error('usage: node-process.ts origin|leecher <torrent> <blob|dir>');
}
const send = (message: FromNode) => process.send?.(message);

const metainfo = parseTorrent(await readFile(torrentPath));
const node = new SwarmNode({
  listenHost: '127.0.0.1',
  hashThreads: 1,
  wideRequests: process.env.SHOAL_BENCH_WIDE !== '0',
});
let cpuAtReady = process.cpuUsage();
const cpuMs = () => {
  const used = process.cpuUsage(cpuAtReady);
  return (used.user + used.system) / 1000;
};
const storage: PieceStorage =
  role === 'origin'
    ? await BlobStorage.open(dataPath, metainfo, { readOnly: true })
    : await FileLayoutStorage.open(dataPath, metainfo);
const handle = node.addTorrent({
  metainfo,
  storage,
  role: role === 'origin' ? 'origin' : 'peer',
  ...(role === 'origin' ? { have: Bitfield.full(metainfo.pieceCount) } : {}),
});
handle.on('complete', () =>
  send({
    type: 'complete',
    at: Date.now(),
    maxRssKiB: process.resourceUsage().maxRSS,
    cpuMs: cpuMs(),
  }),
);
handle.on('error', (error: Error) => send({ type: 'error', message: error.message }));
const port = await node.listen();
cpuAtReady = process.cpuUsage();
send({ type: 'ready', port });

process.on('message', (message: ToNode) => {
  void (async () => {
    if (message.type === 'peers') handle.addPeers(message.peers);
    else if (message.type === 'stats') {
      const stats = handle.stats();
      const cpuSoFar = cpuMs();
      let sha256ok: boolean | null = null;
      if (role === 'leecher' && metainfo.sha256) {
        const { sha256 } = await hashFilePieces(`${dataPath}/${metainfo.name}`, {
          pieceLength: metainfo.pieceLength,
          sha256: true,
          workers: 1,
        });
        sha256ok = sha256 !== undefined && Buffer.from(sha256).equals(metainfo.sha256);
      }
      send({
        type: 'stats',
        uploaded: stats.uploaded,
        downloaded: stats.downloaded,
        fromOrigin: stats.downloadedFromOrigin,
        sha256ok,
        cpuMs: cpuSoFar,
      });
    } else if (message.type === 'close') {
      await node.close();
      await storage.close();
      send({ type: 'closed', maxRssKiB: process.resourceUsage().maxRSS });
      process.disconnect();
    }
  })().catch((error: unknown) => send({ type: 'error', message: String(error) }));
});
