import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const CHUNK_BYTES = 1024 * 1024;

/**
 * SHA-256 of `paths` concatenated in order. It runs on the event loop in 1 MiB steps (about a
 * millisecond each with SHA extensions) with a file read between steps, so peers keep being
 * served; a worker thread would cost a second JavaScript heap for a once-per-download check.
 */
export async function sha256OfFiles(paths: readonly string[]): Promise<Uint8Array> {
  const hash = createHash('sha256');
  const buffer = new Uint8Array(CHUNK_BYTES);
  for (const path of paths) {
    const handle = await open(path, 'r');
    try {
      // Bounded by the file's size: each pass reads at least one byte or ends the loop.
      for (let position = 0; ; ) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, position);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }
  return new Uint8Array(hash.digest());
}
