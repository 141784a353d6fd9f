// An HTTPS proxy in front of the real kube-apiserver: it forwards every request unchanged (the
// bearer token included, so the real authenticator and RBAC decide), records what it forwarded
// and the real answer, and can fail chosen requests (a 5xx the real server would not give on
// demand) or let another writer change the StatefulSet just before the next scale write, so the
// real server answers that write with its own 409.
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { requireExecutable } from '@shoal/testkit';
import { parseRoute, type RecordedRequest, status } from './fake-kube-api.ts';

interface Fault {
  match: string;
  remaining: number;
  status: number;
}

export class KubeFaultProxy {
  readonly requests: RecordedRequest[] = [];
  readonly #upstream: URL;
  readonly #upstreamCa: string;
  readonly #faults: Fault[] = [];
  #beforeNextScaleWrite: (() => Promise<void>) | undefined;
  #server: Server | undefined;
  /** PEM of the proxy's own self-signed certificate. */
  certificate = '';
  port = 0;

  constructor(upstream: string, upstreamCa: string) {
    this.#upstream = new URL(upstream);
    this.#upstreamCa = upstreamCa;
  }

  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async start(dir: string): Promise<void> {
    const key = join(dir, 'proxy.key');
    const cert = join(dir, 'proxy.crt');
    execFileSync(
      requireExecutable('openssl'),
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
        .concat(['-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=kube-fault-proxy'])
        .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
      { stdio: 'ignore' },
    );
    this.certificate = await readFile(cert, 'utf8');
    const server = createServer(
      { key: await readFile(key), cert: this.certificate },
      (req, res) => {
        this.#handle(req, res).catch((error: unknown) => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`proxy: ${String(error)}`);
        });
      },
    );
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The next `count` requests matching `METHOD resource` fail with `statusCode` (not forwarded). */
  failNext(match: string, count: number, statusCode: number): void {
    this.#faults.push({ match, remaining: count, status: statusCode });
  }

  /** Runs `write` (another writer's change) just before forwarding the next scale update. */
  raceNextScaleWrite(write: () => Promise<void>): void {
    this.#beforeNextScaleWrite = write;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const route = parseRoute(method, path);
    const record = (code: number) =>
      this.requests.push({
        method,
        path,
        verb: route?.verb ?? 'unknown',
        apiGroup: route?.apiGroup ?? '',
        resource: route?.resource ?? 'unknown',
        name: route?.name,
        status: code,
      });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);

    const fault =
      route === undefined
        ? undefined
        : this.#faults.find((f) => f.remaining > 0 && f.match === `${method} ${route.resource}`);
    if (fault !== undefined) {
      fault.remaining -= 1;
      record(fault.status);
      const text = JSON.stringify(status(fault.status, 'injected by the test proxy'));
      res.writeHead(fault.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
      return;
    }
    if (route?.resource === 'statefulsets/scale' && route.verb === 'update') {
      const write = this.#beforeNextScaleWrite;
      this.#beforeNextScaleWrite = undefined;
      await write?.();
    }

    const headers = { ...req.headers, host: this.#upstream.host };
    await new Promise<void>((resolve, reject) => {
      const upstream = request(
        {
          host: this.#upstream.hostname,
          port: this.#upstream.port,
          method,
          path: req.url,
          headers,
          ca: this.#upstreamCa,
        },
        (answer) => {
          record(answer.statusCode ?? 0);
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          answer.on('end', resolve);
          answer.on('error', reject);
        },
      );
      // The client gave up (its deadline): give up upstream too.
      res.on('close', () => upstream.destroy());
      upstream.on('error', reject);
      upstream.end(body);
    });
  }
}
