// The benchmark's uploader, a process of its own: streams the file at argv[3] to the
// piece-store at argv[2] over gRPC and prints one JSON line with the time the ingest took
// (from the first byte sent to the answer) and the artifact.
import { performance } from 'node:perf_hooks';
import { createPieceStoreClient } from '@shoal/piece-store-client';

const [address, path, name] = process.argv.slice(2);
if (address === undefined || path === undefined) {
  process.stderr.write('usage: upload.ts HOST:PORT FILE [NAME]\n');
  process.exit(2);
}
const client = createPieceStoreClient(address);
const started = performance.now();
const artifact = await client.ingestFile(
  path,
  { name: name ?? 'bench.bin' },
  { chunkBytes: 1024 * 1024 },
);
const ms = performance.now() - started;
process.stdout.write(
  `${JSON.stringify({ ms, infoHash: artifact.infoHash, sha256: artifact.sha256, size: artifact.size })}\n`,
);
client.close();
