import { createServer } from 'node:net';

/**
 * A TCP port that was free a moment ago on `host`: the kernel picks it, we release it.
 * Another process could take it before the caller binds; with ephemeral ports that is rare.
 */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
