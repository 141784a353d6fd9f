import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { ServiceKitError, ServiceKitErrorCode } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Readiness } from './readiness.ts';

/** The request path and its query string exactly as sent (still percent-encoded, no `?`). */
export interface RequestTarget {
  pathname: string;
  rawQuery: string;
}

export type RouteHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  target: RequestTarget,
) => void | Promise<void>;

export interface HttpServerOptions {
  host: string;
  /** 0 picks a free port; read it back from `port`. */
  port: number;
  registry: Registry;
  readiness: Readiness;
  logger: Logger;
  /** Extra routes by exact path, e.g. `/announce`. `/metrics`, `/healthz`, `/readyz` are built in. */
  routes?: Record<string, RouteHandler>;
}

export interface HttpService {
  server: Server;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Longest request target read; a BitTorrent scrape of 100 infohashes is about 7.1 KiB. */
const MAX_TARGET_LENGTH = 8 * 1024;

export function splitTarget(url: string): RequestTarget {
  const q = url.indexOf('?');
  return q === -1
    ? { pathname: url, rawQuery: '' }
    : { pathname: url.slice(0, q), rawQuery: url.slice(q + 1) };
}

function sendText(res: ServerResponse, status: number, contentType: string, body: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/**
 * An HTTP server with `/metrics` (Prometheus text), `/healthz` (the process serves requests),
 * `/readyz` (every readiness condition holds: 200, else 503, JSON detail either way) and the
 * service's own `routes`. Unknown paths get 404, non-GET methods 405.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpService> {
  const { registry, readiness, logger } = options;
  const routes: Record<string, RouteHandler> = {
    '/healthz': (_req, res) => sendText(res, 200, 'text/plain', 'ok\n'),
    '/readyz': (_req, res) => {
      const snapshot = readiness.snapshot();
      sendText(res, snapshot.ready ? 200 : 503, 'application/json', JSON.stringify(snapshot));
    },
    '/metrics': async (_req, res) => {
      sendText(res, 200, registry.contentType, await registry.metrics());
    },
    ...options.routes,
  };

  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (req, res) => {
    const url = req.url ?? '/';
    if (url.length > MAX_TARGET_LENGTH) {
      sendText(res, 414, 'text/plain', 'request target too long\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'text/plain', 'method not allowed\n');
      return;
    }
    const target = splitTarget(url);
    const route = Object.hasOwn(routes, target.pathname) ? routes[target.pathname] : undefined;
    if (route === undefined) {
      sendText(res, 404, 'text/plain', 'not found\n');
      return;
    }
    Promise.resolve()
      .then(() => route(req, res, target))
      .catch((error: unknown) => {
        logger.error({ err: error, path: target.pathname }, 'http handler failed');
        if (!res.headersSent) sendText(res, 500, 'text/plain', 'internal error\n');
        else res.destroy();
      });
  });
  server.keepAliveTimeout = 65_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (cause: Error) => {
      reject(
        new ServiceKitError(
          ServiceKitErrorCode.ListenFailed,
          `cannot listen on ${options.host}:${options.port}: ${cause.message}`,
          { cause },
        ),
      );
    };
    server.once('error', onError);
    server.listen(options.port, options.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: error }, 'http server error'));
  const port = (server.address() as AddressInfo).port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
